#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: C++ unit tests
# (ctest), guest module tests (cargo test), the fuzz targets for a short fixed
# time (libFuzzer with ASan + UBSan) and end-to-end tests against a real aiond
# (pytest). Exits 0 only if all pass.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

./scripts/install-deps.sh
# The Big Data Edition's installs (downloads, a Go build at low priority) run
# while aiond builds and the first suites run: on a fresh machine that is
# ~15 min that would otherwise come at the end. Once installed, it returns at once.
mkdir -p "$(aion_cache_root)"
bigdata_log="$(aion_cache_root)/bigdata-install.log"
./scripts/test-bigdata.sh --install-only >"$bigdata_log" 2>&1 &
bigdata_install=$!
trap 'kill "$bigdata_install" 2>/dev/null || true' EXIT
./scripts/build.sh

failed=()
log "unit tests (ctest)"
ctest --test-dir build --output-on-failure -j2 || failed+=(unit)

log "guest module tests (cargo test, Debian toolchain)"
for m in modules/*/; do
  [[ -f "$m/Cargo.toml" ]] || continue
  (cd "$m" && RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$here/build/cargo-target-host" \
    /usr/bin/cargo test --offline --release --quiet) || failed+=("cargo:$(basename "$m")")
done

# Every committed corpus input (crash reproducers included) is replayed, then
# each target fuzzes for AION_FUZZ_SECONDS; long runs: scripts/fuzz.sh.
log "fuzz targets (libFuzzer, ASan + UBSan, build-fuzz; docs/fuzzing.md)"
./scripts/fuzz.sh all "${AION_FUZZ_SECONDS:-15}" || failed+=(fuzz)

# Built before the e2e stage so test_deploy's check of the console's production
# output runs instead of skipping; test-console.sh below finds it up to date.
log "console production build (scripts/console-build.sh)"
./scripts/console-build.sh || failed+=(console-build)

# Waited for before the e2e stage, whose timings should not share the cores.
log "waiting for the Big Data installs (log: $bigdata_log)"
if ! wait "$bigdata_install"; then
  tail -n 30 "$bigdata_log" >&2
  log "the Big Data installs failed; the Big Data stage tries again"
fi
trap - EXIT

log "end-to-end tests (pytest against build/aiond)"
AION_BUILD_DIR="$here/build" python3 -m pytest -q tests/e2e || failed+=(e2e)

log "big data edition (scripts/test-bigdata.sh: Kafka -> Spark -> ClickHouse + S3, Airflow DAGs)"; ./scripts/test-bigdata.sh || failed+=(bigdata)

log "console (Vitest + browser e2e, tests/console)"; ./scripts/test-console.sh || failed+=(console)

if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all test suites passed"
