#!/usr/bin/env bash
# The Big Data Edition's test stage (docs/bigdata.md): installs what it needs,
# idempotently and cached under $AION_CACHE_DIR/bigdata (default
# ~/.cache/aionos/bigdata), then runs tests/bigdata against real engines on
# loopback: Kafka (KRaft, Maven jars), ClickHouse 18.16 (Debian), SeaweedFS S3
# (built from the Go module proxy), the PySpark streaming job, Airflow DAGs and
# a real aiond. A second run installs nothing.
#
#   ./scripts/test-bigdata.sh [pytest args...]
#   AION_BUILD_DIR=build ./scripts/test-bigdata.sh -k dead_letter
#   ./scripts/test-bigdata.sh --install-only
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

cache="$(aion_cache_root)/bigdata"
mkdir -p "$cache/bin"
export AION_BIGDATA_CACHE="$cache"
t0=$SECONDS

# ---- ClickHouse (Debian) -------------------------------------------------------------------------
if ! command -v clickhouse-server >/dev/null && [[ ! -x /usr/sbin/clickhouse-server ]]; then
  log "installing clickhouse-server (Debian $DEBIAN_RELEASE: $CLICKHOUSE_DEBIAN_VERSION)"
  sudo=""; [[ $EUID -ne 0 ]] && sudo="sudo"
  $sudo apt-get install -y -q clickhouse-server clickhouse-client >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q clickhouse-server clickhouse-client >/dev/null; }
fi
# The package starts nothing here (no init); the tests start their own server.

# ---- SeaweedFS's S3 server (go build of the pinned module) ---------------------------------------
# The one CPU-heavy install (≈10 min on 2 cores): built in the background while the
# network-bound installs below run, and waited for before the tests.
weed="$cache/bin/weed"
weed_pid=""
if [[ ! -x "$weed" || "$(cat "$cache/bin/weed.version" 2>/dev/null)" != "$SEAWEEDFS_VERSION" ]]; then
  # `go install …/weed@VER` is refused (the module's go.mod has replace
  # directives), so: download the module, build its ./weed from the module cache.
  log "building SeaweedFS $SEAWEEDFS_VERSION in the background (log: $cache/weed-build.log)"
  (
    set -e
    mod="github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION"
    dir="$(go mod download -json "$mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    cd "$dir"
    nice go build -trimpath -o "$weed.tmp" ./weed
    mv "$weed.tmp" "$weed"
    echo "$SEAWEEDFS_VERSION" >"$cache/bin/weed.version"
  ) >"$cache/weed-build.log" 2>&1 &
  weed_pid=$!
  trap '[[ -n "$weed_pid" ]] && kill "$weed_pid" 2>/dev/null || true' EXIT
fi

# ---- Spark's Kafka connector (Maven Central) -----------------------------------------------------
jars="$cache/spark-kafka-jars"
marker="$jars/.spark-sql-kafka-$SPARK_VERSION"
if [[ ! -f "$marker" ]]; then
  log "fetching spark-sql-kafka-0-10_2.13:$SPARK_VERSION and its dependencies (Maven Central)"
  pomdir="$(mktemp -d)"
  cat >"$pomdir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>aion</groupId><artifactId>spark-kafka-deps</artifactId><version>1</version>
<dependencies><dependency><groupId>org.apache.spark</groupId>
<artifactId>spark-sql-kafka-0-10_2.13</artifactId><version>$SPARK_VERSION</version>
<!-- pyspark ships Hadoop, Scala and the compression codecs itself -->
<exclusions><exclusion><groupId>org.apache.hadoop</groupId><artifactId>*</artifactId></exclusion>
<exclusion><groupId>org.scala-lang</groupId><artifactId>*</artifactId></exclusion>
<exclusion><groupId>org.lz4</groupId><artifactId>*</artifactId></exclusion>
<exclusion><groupId>at.yawk.lz4</groupId><artifactId>*</artifactId></exclusion>
<exclusion><groupId>org.xerial.snappy</groupId><artifactId>*</artifactId></exclusion>
<exclusion><groupId>org.slf4j</groupId><artifactId>*</artifactId></exclusion></exclusions>
</dependency></dependencies></project>
EOF
  rm -rf "$jars.tmp"
  (cd "$pomdir" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$jars.tmp")
  rm -rf "$pomdir" "$jars"
  mv "$jars.tmp" "$jars"
  touch "$marker"
fi

# ---- Python venvs, one per tool -------------------------------------------------------------------
venv() {  # venv NAME PACKAGE==VER...: created once per set of pins
  local dir="$cache/venv-$1" want
  shift
  want="$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
  if [[ "$(cat "$dir/.pins" 2>/dev/null)" != "$want" ]]; then
    log "installing $(basename "$dir"): $*"
    rm -rf "$dir"
    python3 -m venv "$dir"
    nice "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$want" >"$dir/.pins"
  fi
}
venv spark "pyspark==$PYSPARK_VERSION" "pyarrow==$PYARROW_VERSION" "pandas==$PANDAS_VERSION" "pyyaml==$PYYAML_VERSION"
venv airflow "apache-airflow==$AIRFLOW_VERSION" "apache-airflow-providers-standard==$AIRFLOW_PROVIDERS_STANDARD_VERSION" \
  "pyarrow==$PYARROW_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
# Superset, unless AION_BIGDATA_SUPERSET=0 (the largest install, ~1 GB). The last three pins
# repair what PyPI resolves for apache-superset 6.1.0 today: rich and cachetools are imported but
# not declared, and Flask-Caching 2.5 passes an argument Superset's cache does not take.
if [[ "${AION_BIGDATA_SUPERSET:-1}" != 0 ]]; then
  venv superset "apache-superset==$SUPERSET_VERSION" "clickhouse-connect==$CLICKHOUSE_CONNECT_VERSION" \
    "rich==$SUPERSET_RICH_VERSION" "cachetools==$SUPERSET_CACHETOOLS_VERSION" "flask-caching==$SUPERSET_FLASK_CACHING_VERSION"
else
  log "AION_BIGDATA_SUPERSET=0: Superset not installed; tests/bigdata/test_3_superset.py skips"
fi

# ---- Kafka broker jars (tests/e2e/kafka_broker.py) and the test runner's packages ----------------
if ! compgen -G "$(aion_cache_root)/kafka-$KAFKA_VERSION/libs/kafka_2.13-*.jar" >/dev/null; then
  ./scripts/install-deps.sh
fi
python3 -c "import pytest, confluent_kafka, yaml, jsonschema" 2>/dev/null ||
  python3 -m pip install -q "pytest==$PYTEST_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" \
    "pyyaml==$PYYAML_VERSION" "jsonschema==$JSONSCHEMA_VERSION"
if [[ -n "$weed_pid" ]]; then
  wait "$weed_pid" || { log "error: the SeaweedFS build failed:"; tail -n 30 "$cache/weed-build.log" >&2; exit 1; }
  weed_pid=""
  log "SeaweedFS built"
fi
log "big data tools ready in $((SECONDS - t0)) s (cache $cache)"
[[ "${1:-}" == "--install-only" ]] && exit 0

# ---- aiond: a copy of the build, so a rebuild of build/ meanwhile cannot change it -----------------
# (scripts/test.sh builds build/ first; run alone, the last copy is used if build/ has none now.)
src="${AION_BUILD_DIR:-$here/build}"
bd="$here/build-bd"
if [[ -x "$src/aiond" && -f "$src/modules/summarize.wasm" ]]; then
  mkdir -p "$bd"
  rm -rf "$bd/modules" "$bd/test-modules"
  cp "$src/aiond" "$bd/aiond.tmp" && mv "$bd/aiond.tmp" "$bd/aiond"
  cp -r "$src/modules" "$bd/modules"
  cp -r "$src/test-modules" "$bd/test-modules"
elif [[ -x "$bd/aiond" ]]; then
  log "no aiond in $src: using the copy in $bd from an earlier run"
else
  log "error: no aiond in $src: run ./scripts/build.sh first"
  exit 1
fi

log "big data tests (tests/bigdata: Kafka -> Spark -> ClickHouse + S3, Airflow DAGs)"
AION_BUILD_DIR="$bd" nice python3 -m pytest -q -p no:cacheprovider tests/bigdata "$@"
log "big data stage: $((SECONDS - t0)) s"
