#!/usr/bin/env bash
# Installs what is missing, builds, and starts aiond in the foreground on the
# embedded profile (SQLite, in-process bus, local WASM modules). Ctrl-C stops it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

./scripts/install-deps.sh
./scripts/build.sh

if [[ -f .env ]]; then
  log "loading .env"
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi
if [[ -z "${AION_GATEWAY_API_KEYS:-}" ]]; then
  export AION_GATEWAY_API_KEYS='demo-key:admin|manager'
  log "no AION_GATEWAY_API_KEYS set: using the demo key 'demo-key' (roles admin|manager)"
  log "  try: curl -X POST http://localhost:${AION_GATEWAY_PORT:-8080}/v1/tasks -H 'X-API-Key: demo-key' \\"
  log "         -H 'Content-Type: application/json' -d '{\"schemaVersion\":\"1.0\",\"intent\":\"summarize\",\"params\":{\"text\":\"hello world\"}}'"
fi
export AION_POLICY_DIR="${AION_POLICY_DIR:-$here/policies}"
export AION_DATA_DIR="${AION_DATA_DIR:-$here/data}"
exec "$here/build/aiond"
