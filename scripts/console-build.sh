#!/usr/bin/env bash
# Installs what the web console needs (idempotently: Node from Debian if
# missing, pnpm pinned, the locked dependencies when the lock changed) and
# builds it for production when a source changed. Fast when nothing did.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
export NEXT_TELEMETRY_DISABLED=1
pnpm_version="$PNPM_VERSION"  # deps/versions.env

if ! command -v node >/dev/null 2>&1; then
  log "installing nodejs and npm (Debian)"
  apt-get install -y nodejs npm >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nodejs npm >/dev/null; }
fi
if [[ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]]; then
  log "installing pnpm $pnpm_version"
  npm install -g "pnpm@$pnpm_version" >/dev/null
fi

cd "$here/console"
stamp=node_modules/.aion-lock.sha256
want="$(cat pnpm-lock.yaml package.json | sha256sum | cut -c1-64)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  log "console: pnpm install --frozen-lockfile"
  pnpm install --frozen-lockfile --reporter=silent
  echo "$want" >"$stamp"
fi

build_stamp=.next/.aion-src.sha256
src_sum="$( (find src public -type f -print0 2>/dev/null | sort -z | xargs -0 cat; cat package.json pnpm-lock.yaml next.config.ts tsconfig.json) | sha256sum | cut -c1-64)"
if [[ ! -f .next/BUILD_ID || "$(cat "$build_stamp" 2>/dev/null)" != "$src_sum" ]]; then
  log "console: next build"
  out="$(mktemp)"
  nice pnpm run --silent build >"$out" 2>&1 || { cat "$out"; rm -f "$out"; exit 1; }
  rm -f "$out"
  echo "$src_sum" >"$build_stamp"
fi
