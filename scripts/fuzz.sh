#!/usr/bin/env bash
# libFuzzer targets with ASan + UBSan (docs/fuzzing.md), built by clang-16 in
# their own build dir (build-fuzz) so the GCC build is untouched.
#
#   scripts/fuzz.sh list                 the targets
#   scripts/fuzz.sh build                configure (once) and build them
#   scripts/fuzz.sh replay [TARGET...]   run every committed corpus input once
#   scripts/fuzz.sh TARGET SECONDS       fuzz one target, from its corpus
#   scripts/fuzz.sh all SECONDS          replay, then fuzz each target in turn
#
# Fuzzing starts from a scratch copy of tests/fuzz/corpus/TARGET (the
# committed seeds stay as they are). A crash, leak, UB report or timeout is
# written to build-fuzz/crashes/TARGET/ and the script exits non-zero; add
# the reproducer to the corpus once fixed (docs/fuzzing.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
build_dir="${AION_FUZZ_BUILD_DIR:-$here/build-fuzz}"
fuzz_src="$here/tests/fuzz"
cxx="${AION_FUZZ_CXX:-clang++-${LLVM_VERSION:-16}}"  # deps/versions.env
cc="${AION_FUZZ_CC:-clang-${LLVM_VERSION:-16}}"

targets() { (cd "$fuzz_src" && grep -l LLVMFuzzerTestOneInput -- *.cpp | sed 's/\.cpp$//'); }

usage() {
  sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

build() {
  command -v "$cxx" >/dev/null ||
    { log "error: $cxx not found (scripts/install-deps.sh installs it)"; exit 1; }
  local wasmtime_dir
  wasmtime_dir="$(wasmtime_cache_dir)"
  if [[ ! -f "$build_dir/build.ninja" ]] ||
    ! grep -q "AION_WASMTIME_DIR:PATH=$wasmtime_dir$" "$build_dir/CMakeCache.txt" 2>/dev/null; then
    log "configuring $build_dir (clang, libFuzzer, ASan + UBSan)"
    # -O1 -g with assertions on: Boost's and the repo's asserts are checks too.
    cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DAION_FUZZ=ON -DAION_SANITIZE=address,undefined \
      -DAION_BUILD_TESTS=OFF -DAION_BUILD_BENCH=OFF \
      -DAION_WASMTIME_DIR="$wasmtime_dir" >/dev/null
  fi
  log "building fuzz targets (ninja)"
  ninja -C "$build_dir" -j "${AION_FUZZ_JOBS:-2}" fuzz | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
}

# The targets' scratch files (module fixtures, policy dirs) and the corpus
# copies go under one directory per invocation, removed after it.
case "${1:-}" in
  list | "" | -h | --help) ;;
  *)
    mkdir -p "$build_dir/tmp"
    scratch="$(mktemp -d "$build_dir/tmp/run.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    export TMPDIR="$scratch"
    ;;
esac

# Sanitizer reports abort, so libFuzzer saves the input; leaks count too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

flags_for() {
  local t="$1"
  local f=(-timeout=10 -rss_limit_mb=2048)
  [[ -f "$fuzz_src/dict/$t.dict" ]] && f+=("-dict=$fuzz_src/dict/$t.dict")
  printf '%s\n' "${f[@]}"
}

# Runs every committed input of each target once (regression reproducers included).
replay() {
  local failed=() t
  for t in "$@"; do
    local corpus="$fuzz_src/corpus/$t" log_file="$build_dir/logs/$t.replay.log"
    mkdir -p "$build_dir/logs"
    [[ -d "$corpus" ]] || { log "error: no corpus $corpus"; failed+=("$t"); continue; }
    mapfile -t flags < <(flags_for "$t")
    if "$build_dir/fuzz/$t" "${flags[@]}" "$corpus"/* >"$log_file" 2>&1; then
      log "replay $t: $(find "$corpus" -type f | wc -l) inputs ok"
    else
      tail -n 40 "$log_file" >&2
      log "replay $t: FAILED (log: $log_file)"
      failed+=("$t")
    fi
  done
  ((${#failed[@]} == 0))
}

# Fuzzes one target for $2 seconds from a scratch copy of its corpus.
run() {
  local t="$1" secs="$2"
  local crashes="$build_dir/crashes/$t" log_file="$build_dir/logs/$t.log" work
  mkdir -p "$crashes" "$build_dir/logs"
  work="$(mktemp -d "$scratch/corpus-$t.XXXXXX")"
  cp "$fuzz_src/corpus/$t"/* "$work/"
  mapfile -t flags < <(flags_for "$t")
  local rc=0
  "$build_dir/fuzz/$t" "${flags[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" >"$log_file" 2>&1 || rc=$?
  rm -rf "$work"
  local stats
  stats="$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log_file" |
    sed 's/^stat:://; s/: */=/' | tr '\n' ' ')"
  local cov
  cov="$(grep -oE 'cov: [0-9]+' "$log_file" | tail -n 1 || true)"
  if ((rc != 0)); then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz invariant)' "$log_file" >&2 || true
    tail -n 30 "$log_file" >&2
    log "fuzz $t: FAILED after ${secs}s or less; reproducer(s) in $crashes/ (log: $log_file)"
    ls -1 "$crashes" >&2 || true
    return 1
  fi
  log "fuzz $t: ${secs}s ok, ${cov:-cov: ?}, $stats"
}

case "${1:-}" in
  list) targets ;;
  build) build ;;
  replay)
    shift
    build
    if (($#)); then replay "$@"; else mapfile -t all < <(targets) && replay "${all[@]}"; fi
    ;;
  all)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    build
    mapfile -t all < <(targets)
    failed=()
    replay "${all[@]}" || failed+=(replay)
    for t in "${all[@]}"; do run "$t" "$2" || failed+=("$t"); done
    if ((${#failed[@]})); then
      log "fuzz FAILED: ${failed[*]}"
      exit 1
    fi
    ;;
  "" | -h | --help) usage ;;
  *)
    t="$1"
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    targets | grep -qx -- "$t" || { log "error: no fuzz target '$t' (scripts/fuzz.sh list)"; exit 2; }
    build
    run "$t" "$2"
    ;;
esac
