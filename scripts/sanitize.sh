#!/usr/bin/env bash
# The unit tests under sanitizers (docs/fuzzing.md#sanitizers-for-the-unit-tests):
# configures a build with -DAION_SANITIZE (once), builds it and runs ctest.
# Not part of scripts/test.sh: it builds the whole project a second time,
# instrumented. GCC by default (the compiler aiond ships with): clang 16
# cannot build the WebSocket code against Boost 1.81 (llvm-project#60749,
# boostorg/beast#2648; docs/fuzzing.md).
#
#   scripts/sanitize.sh                    ASan + UBSan, in build-asan
#   scripts/sanitize.sh thread             TSan, in build-tsan
#   scripts/sanitize.sh SANITIZERS -R RE   extra arguments go to ctest
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

sanitizers="${1:-address,undefined}"
shift || true
case "$sanitizers" in
  address,undefined | address | undefined) build_dir="${AION_SANITIZE_BUILD_DIR:-$here/build-asan}" ;;
  thread) build_dir="${AION_SANITIZE_BUILD_DIR:-$here/build-tsan}" ;;
  *) log "error: sanitizers must be address,undefined, address, undefined or thread"; exit 2 ;;
esac
cxx="${AION_SANITIZE_CXX:-g++}" cc="${AION_SANITIZE_CC:-gcc}"
command -v "$cxx" >/dev/null || { log "error: $cxx not found"; exit 1; }

wasmtime_dir="$(wasmtime_cache_dir)"
if [[ ! -f "$build_dir/build.ninja" ]] ||
  ! grep -q "AION_WASMTIME_DIR:PATH=$wasmtime_dir$" "$build_dir/CMakeCache.txt" 2>/dev/null; then
  log "configuring $build_dir ($cxx, -fsanitize=$sanitizers)"
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DAION_SANITIZE="$sanitizers" -DAION_BUILD_BENCH=OFF \
    -DAION_WASMTIME_DIR="$wasmtime_dir" >/dev/null
fi
log "building $build_dir (ninja)"
ninja -C "$build_dir" -j "${AION_SANITIZE_JOBS:-2}" | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
log "unit tests under -fsanitize=$sanitizers (ctest)"
ctest --test-dir "$build_dir" --output-on-failure -j2 "$@"
