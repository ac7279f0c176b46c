#!/usr/bin/env bash
# Configures (once) and builds aiond, its tests and the guest modules in
# Release. Incremental: a second run only rebuilds what changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
build_dir="${AION_BUILD_DIR:-$here/build}"
wasmtime_dir="$(wasmtime_cache_dir)"

if [[ ! -f "$build_dir/build.ninja" ]] || ! grep -q "AION_WASMTIME_DIR:PATH=$wasmtime_dir$" "$build_dir/CMakeCache.txt" 2>/dev/null; then
  log "configuring $build_dir"
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAION_WERROR=ON \
    -DAION_WASMTIME_DIR="$wasmtime_dir" >/dev/null
fi
log "building (ninja)"
# pipefail makes a ninja failure fail this script; grep finding nothing is fine.
ninja -C "$build_dir" "$@" | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
