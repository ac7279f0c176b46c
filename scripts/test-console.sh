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
pnpm_version=12.4.2
started=$SECONDS

if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (Debian)"
  apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
if ! command -v node >/dev/null 2>&1; then
  log "installing nodejs and npm (Debian)"
  apt-get install -y nodejs npm >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nodejs npm >/dev/null; }
fi
if [[ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]]; then
  log "installing pnpm $pnpm_version"
  npm install -g "pnpm@$pnpm_version" >/dev/null
fi
if [[ ! -x "$AION_BUILD_DIR/aiond" || ! -f "$AION_BUILD_DIR/test-modules/spin.wasm" ]]; then
  ./scripts/build.sh
fi

cd console
# Installs only when the lock changed since the last install.
stamp=node_modules/.aion-lock.sha256
want="$(sha256sum pnpm-lock.yaml package.json | sha256sum | cut -c1-64)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  log "console: pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile --reporter=silent
  echo "$want" >"$stamp"
fi

# Rebuilds only when a source changed since the last build.
build_stamp=.next/.aion-src.sha256
src_sum="$( (find src -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum package.json pnpm-lock.yaml next.config.ts tsconfig.json) | sha256sum | cut -c1-64)"
if [[ ! -f .next/BUILD_ID || "$(cat "$build_stamp" 2>/dev/null)" != "$src_sum" ]]; then
  log "console: next build"
  nice pnpm run --silent build >/tmp/aion-console-build.$$.log 2>&1 || { cat /tmp/aion-console-build.$$.log; rm -f /tmp/aion-console-build.$$.log; exit 1; }
  rm -f /tmp/aion-console-build.$$.log
  echo "$src_sum" >"$build_stamp"
fi

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
