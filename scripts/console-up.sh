#!/usr/bin/env bash
# Builds (when needed) and starts the web console's production server in the
# background on AION_CONSOLE_PORT (3000), pointed at the local aiond, and
# prints its URL. It stops when the process OWNER_PID (argument) ends: used
# by dev-up.sh, whose aiond keeps the script's pid.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
owner="${1:?usage: console-up.sh OWNER_PID}"

"$here/scripts/console-build.sh"
port="${AION_CONSOLE_PORT:-3000}"
data="${AION_DATA_DIR:-$here/data}"
mkdir -p "$data"
secret_file="$data/console-secret"
[[ -s "$secret_file" ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$secret_file")
export NEXTAUTH_URL="${NEXTAUTH_URL:-http://localhost:$port}"
export NEXTAUTH_SECRET="${NEXTAUTH_SECRET:-$(cat "$secret_file")}"
export NEXT_PUBLIC_GATEWAY_URL="${NEXT_PUBLIC_GATEWAY_URL:-http://127.0.0.1:${AION_GATEWAY_PORT:-8080}}"
export NEXT_PUBLIC_CONTROL_URL="${NEXT_PUBLIC_CONTROL_URL:-http://127.0.0.1:${AION_CONTROL_PORT:-8000}}"
export NODE_ENV=production NEXT_TELEMETRY_DISABLED=1

cd "$here/console"
setsid node node_modules/next/dist/bin/next start -p "$port" >"$data/console.log" 2>&1 </dev/null &
pid=$!
# Stops the console when its owner ends (Ctrl-C on dev-up.sh).
setsid bash -c "while kill -0 $owner 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null" \
  >/dev/null 2>&1 </dev/null &
log "console  http://localhost:$port  (production build; log $data/console.log; AION_CONSOLE=0 skips it)"
