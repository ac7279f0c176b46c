#!/usr/bin/env bash
# The web console's tests: installs what they need (idempotently: Debian's
# chromium, pnpm pinned, the console's locked dependencies), builds the
# console (production), runs its Vitest unit tests and the browser e2e
# (playwright-core + headless chromium) against a real aiond from
# AION_BUILD_DIR (default build/, built if missing). Screenshots and metrics
# land in $AION_BUILD_DIR/console-artifacts. Exit 0 only if all pass.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"
export AION_BUILD_DIR="${AION_BUILD_DIR:-$here/build}"
export NEXT_TELEMETRY_DISABLED=1
started=$SECONDS

if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (Debian)"
  apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
if [[ ! -x "$AION_BUILD_DIR/aiond" || ! -f "$AION_BUILD_DIR/test-modules/spin.wasm" ]]; then
  ./scripts/install-deps.sh
  ./scripts/build.sh
fi
./scripts/console-build.sh
cd console

failed=()
log "console: unit tests (vitest)"
pnpm exec vitest run --reporter=dot || failed+=(vitest)

log "console: browser e2e (playwright-core, chromium headless) against $AION_BUILD_DIR/aiond"
node ../tests/console/e2e.mjs || failed+=(e2e)

log "console stage took $((SECONDS - started)) s"
if ((${#failed[@]})); then
  log "console FAILED: ${failed[*]}"
  exit 1
fi
