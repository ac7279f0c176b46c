#!/usr/bin/env bash
# The test suites under sanitizers (docs/fuzzing.md#sanitizers), each build in
# its own directory, configured once, then incremental. Not part of
# scripts/test.sh: each mode builds the project a second time, instrumented
# (CI runs them as their own job). GCC: clang 16 cannot build the WebSocket
# code against Boost 1.81 (llvm-project#60749, boostorg/beast#2648).
#
#   scripts/sanitize.sh asan [CTEST_ARGS...]  ASan + UBSan in build-asan: every unit
#                                             test, then the e2e suite against its aiond
#   scripts/sanitize.sh tsan [CTEST_ARGS...]  TSan in build-tsan: the unit tests whose
#                                             code runs on several threads (kTsanTests)
#
# Extra arguments go to ctest (e.g. -R Orchestrator). AION_SANITIZE_SUITES=unit
# or =e2e runs one suite of the asan mode; AION_SANITIZE_PYTEST_ARGS is added to
# the pytest command line (e.g. "-k test_tasks -x").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

# TSan: the tests whose code under test runs on several threads at once
# (docs/fuzzing.md lists why each is here). Single-threaded parsers, codecs,
# policy and router tests add nothing under TSan; ASan covers them. Not the
# Kafka half of EventSinkConformance: librdkafka starts its threads with C11
# thrd_create, which GCC 12's TSan runtime does not intercept, and it crashes
# in them.
kTsanTests=(
  'OrchestratorTest\.'        # io loop, module pool, store writer thread, bus, watchdog
  'FollowerTest\.'            # bus publishers vs followers catching up from the store
  'EventBus\.'
  'TaskStoreConformance.*Sqlite'  # the write queue: group commit from many threads
  'SqliteStore\.'
  'HttpClientTest\.'          # the connection pool shared by event loops, cancel from other threads
  'Fixture\.'                 # providers against loopback servers: streams, retries, cancel
  'Resilience\.'
  'Async\.'                   # callbackAsync: completions from foreign threads
  'AdmissionTest\.'           # the gateway's admission chain from several loops
  'RateLimiter\.'
  'Idempotency\.'
  'CompositeTest\.'           # module concurrency limits
  'Tracer\.'                  # the span exporter thread
  'EventSinkConformance.*FileBackend'  # the outbox relay thread vs the store's writer
)
kTsanTargets=(unit_control unit_events unit_store unit_store_conformance unit_sink_conformance unit_providers
  unit_common unit_gateway unit_modhost unit_telemetry)

mode="${1:-asan}"
shift || true
case "$mode" in
  asan | address,undefined) mode=asan sanitizers=address,undefined
    build_dir="${AION_SANITIZE_BUILD_DIR:-$here/build-asan}" ;;
  tsan | thread) mode=tsan sanitizers=thread
    build_dir="${AION_SANITIZE_BUILD_DIR:-$here/build-tsan}" ;;
  *) log "usage: scripts/sanitize.sh asan|tsan [ctest arguments]"; exit 2 ;;
esac
cxx="${AION_SANITIZE_CXX:-g++}" cc="${AION_SANITIZE_CC:-gcc}"
command -v "$cxx" >/dev/null || { log "error: $cxx not found"; exit 1; }

# GCC warns that TSan does not model atomic_thread_fence, once per Asio
# handler: Asio's fences only add to the mutexes its queues already take.
cxxflags="-O1 -g"
[[ "$mode" == tsan ]] && cxxflags+=" -Wno-tsan"
wasmtime_dir="$(wasmtime_cache_dir)"
if [[ ! -f "$build_dir/build.ninja" ]] ||
  ! grep -qxF "AION_WASMTIME_DIR:PATH=$wasmtime_dir" "$build_dir/CMakeCache.txt" ||
  ! grep -qxF "CMAKE_CXX_FLAGS_RELWITHDEBINFO:STRING=$cxxflags" "$build_dir/CMakeCache.txt"; then
  log "configuring $build_dir ($cxx, -fsanitize=$sanitizers)"
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$cxxflags" \
    -DAION_SANITIZE="$sanitizers" -DAION_BUILD_BENCH=OFF \
    -DAION_WASMTIME_DIR="$wasmtime_dir" >/dev/null
fi
targets=()
[[ "$mode" == tsan ]] && targets=("${kTsanTargets[@]}")
log "building $build_dir (ninja${targets:+ ${targets[*]}})"
ninja -C "$build_dir" -j "${AION_SANITIZE_JOBS:-2}" "${targets[@]}" |
  { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }

# No suppressions: every report so far was a bug of ours, and fixed.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

failed=()
if [[ "$mode" == tsan ]]; then
  pattern="$(IFS='|'; echo "${kTsanTests[*]}")"
  log "unit tests under -fsanitize=thread: ${kTsanTests[*]}"
  ctest --test-dir "$build_dir" --output-on-failure -j2 -R "$pattern" "$@" || failed+=(unit)
else
  suites="${AION_SANITIZE_SUITES:-unit,e2e}"
  if [[ ",$suites," == *,unit,* ]]; then
    log "unit tests under -fsanitize=$sanitizers (ctest)"
    ctest --test-dir "$build_dir" --output-on-failure -j2 "$@" || failed+=(unit)
  fi
  if [[ ",$suites," == *,e2e,* ]]; then
    # Every aiond the e2e suite starts writes its stderr, sanitizer reports
    # included (leaks at exit too), to an aiond.log under pytest's temp dir,
    # which no test reads: any report there fails the run even when every
    # test passed. Not ASan's log_path: with it set, the module sandbox's
    # probe child (a copy of aiond) exits non-zero, and aiond runs subprocess
    # modules in reduced isolation; its runtime cannot open that path from
    # inside the sandbox's private root.
    tmp="$build_dir/e2e-tmp"
    log "end-to-end tests against $build_dir/aiond (logs: $tmp)"
    # shellcheck disable=SC2086  # AION_SANITIZE_PYTEST_ARGS is a list of words
    AION_BUILD_DIR="$build_dir" python3 -m pytest -q --basetemp "$tmp" tests/e2e \
      ${AION_SANITIZE_PYTEST_ARGS:-} || failed+=(e2e)
    mapfile -t reports < <(grep -rlE --include='*.log' \
      'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$tmp" 2>/dev/null || true)
    for f in "${reports[@]}"; do
      log "sanitizer report in $f:"
      grep -E -A40 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -80 >&2
    done
    ((${#reports[@]} == 0)) || failed+=(e2e-reports)
  fi
fi

if ((${#failed[@]})); then
  log "FAILED under -fsanitize=$sanitizers: ${failed[*]}"
  exit 1
fi
log "all passed under -fsanitize=$sanitizers"
