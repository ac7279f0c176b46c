#!/usr/bin/env bash
# Installs everything aionOS needs to build and test on a fresh Debian 12
# machine. Idempotent: a second run with everything present does no work.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"

apt_packages=(
  build-essential cmake ninja-build pkg-config ccache clang-format
  libboost1.81-dev libboost-json1.81-dev libssl-dev libsqlite3-dev libyaml-cpp-dev
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev
  libhiredis-dev libpq-dev librdkafka-dev libseccomp-dev libcap-dev libjemalloc-dev
  rustc cargo libstd-rust-dev-wasm32 lld
  librust-serde-dev librust-serde-json-dev librust-serde-derive-dev
  python3 python3-pytest curl redis-server
  prometheus  # prometheus + promtool: the observability e2e (deploy/observability)
  postgresql  # PostgreSQL 15 server binaries: the PgTaskStore conformance e2e (tests/e2e/postgres_server.py)
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The e2e suite runs on whichever python3 is first on PATH (it may not be Debian's).
for mod in pytest:pytest websocket:websocket-client openai:openai yaml:pyyaml \
  confluent_kafka:confluent-kafka==2.16.1; do
  if ! python3 -c "import ${mod%%:*}" >/dev/null 2>&1; then
    log "pip install ${mod#*:}"
    python3 -m pip install -q "${mod#*:}"
  fi
done

# The official openai Node SDK for the OpenAI conformance e2e
# (tests/e2e/test_openai_golden.py), pinned by its lock file; reinstalled only
# when the lock file changes.
node_dir="$here/tests/e2e/openai_node"
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.aion-installed-lock.json"; then
  command -v npm >/dev/null || { log "error: npm (Node.js 20+) is needed for tests/e2e/openai_node"; exit 1; }
  log "npm ci in tests/e2e/openai_node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.aion-installed-lock.json"
fi

# grpcurl for the gRPC e2e tests (and the seed's example), pinned.
if [[ ! -x "$(go env GOPATH)/bin/grpcurl" ]]; then
  log "go install grpcurl"
  go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.1
fi

# cosign: the e2e tests check that aiond accepts real `cosign sign-blob`
# signatures (docs/modules.md). Pinned; a long first build, then cached.
if [[ ! -x "$(go env GOPATH)/bin/cosign" ]]; then
  log "go install cosign (first time only, a few minutes)"
  go install github.com/sigstore/cosign/v2/cmd/cosign@v2.4.1
fi

# Jaeger (Apache-2.0): the trace backend of the tracing e2e (OTLP in, query API
# out). Its go.mod has replace directives, so `go install` refuses it: build
# the pinned module from the Go proxy's copy. A long first build, then cached.
if [[ ! -x "$(go env GOPATH)/bin/jaeger" ]]; then
  log "building jaeger v1.76.0 (first time only, several minutes)"
  src="$(go mod download -json github.com/jaegertracing/jaeger@v1.76.0 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  (cd "$work" && go build -o "$(go env GOPATH)/bin/jaeger" ./cmd/jaeger)
  rm -rf "$work"
fi

# Apache Kafka (Apache-2.0): the real broker of the Kafka sink e2e
# (tests/e2e/kafka_broker.py runs it as `java -cp '<libs>/*' kafka.Kafka`, KRaft,
# on loopback). The pinned kafka_2.13 jar and its runtime dependencies, plus a
# log4j2 binding for its logging, are copied from Maven Central into a cache
# outside the tree; done once per version, when the libs dir lacks its .complete
# marker. Keep kafka_version in step with KAFKA_VERSION in kafka_broker.py.
kafka_version=4.4.0
kafka_libs="$(aion_cache_root)/kafka-$kafka_version/libs"
if [[ ! -f "$kafka_libs/.complete" ]]; then
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    log "apt-get install openjdk-17-jre-headless maven"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
  fi
  log "fetching kafka_2.13 $kafka_version and its dependencies into $kafka_libs (first time only)"
  work="$(mktemp -d)"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>aionos.deps</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$kafka_version</version></dependency>
    <!-- kafka logs through slf4j 1.7: this binds it to the log4j2 core kafka brings. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$kafka_libs.tmp"
  if ! mvn -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$kafka_libs.tmp" >"$work/mvn.log" 2>&1; then
    tail -n 40 "$work/mvn.log" >&2; log "error: fetching kafka_2.13 $kafka_version failed"; exit 1
  fi
  touch "$kafka_libs.tmp/.complete"
  rm -rf "$kafka_libs" && mv "$kafka_libs.tmp" "$kafka_libs"
  rm -rf "$work"
fi

# wasmtime C API: built once per pinned version into a cache outside the tree.
wasmtime_dir="$(wasmtime_cache_dir)"
if [[ ! -f "$wasmtime_dir/lib/libwasmtime.a" ]]; then
  log "building wasmtime C API into $wasmtime_dir (first time only, several minutes)"
  cargo_bin="$(rustup_cargo)"
  work="$wasmtime_dir.build"
  mkdir -p "$work"
  cp "$here/deps/wasmtime/Cargo.toml" "$here/deps/wasmtime/Cargo.lock" "$work/" 2>/dev/null ||
    cp "$here/deps/wasmtime/Cargo.toml" "$work/"
  mkdir -p "$work/src" && cp "$here/deps/wasmtime/src/lib.rs" "$work/src/"
  (cd "$work" && CARGO_TARGET_DIR="$work/target" "$cargo_bin" build --release --locked 2>&1 |
    tail -n 5) || (cd "$work" && CARGO_TARGET_DIR="$work/target" "$cargo_bin" build --release)
  src="$(cd "$work" && "$cargo_bin" metadata --format-version 1 --locked |
    python3 -c 'import json,sys,os; m=json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="wasmtime-c-api-impl"))')"
  rm -rf "$wasmtime_dir.tmp" && mkdir -p "$wasmtime_dir.tmp/lib"
  cp -r "$src/include" "$wasmtime_dir.tmp/include"
  # What wasmtime's own CMake does with conf.h.in, for the features built above.
  python3 - "$src/include/wasmtime/conf.h.in" "$wasmtime_dir.tmp/include/wasmtime/conf.h" <<'PY'
import re, sys
enabled = {"WASMTIME_FEATURE_CRANELIFT", "WASMTIME_FEATURE_WASI", "WASMTIME_FEATURE_POOLING_ALLOCATOR",
           "WASMTIME_FEATURE_WAT", "WASMTIME_FEATURE_DISABLE_LOGGING"}
out = []
for line in open(sys.argv[1]):
    m = re.match(r"#cmakedefine (\w+)", line)
    if m:
        line = f"#define {m.group(1)}\n" if m.group(1) in enabled else f"/* #undef {m.group(1)} */\n"
    out.append(line)
open(sys.argv[2], "w").write("".join(out))
PY
  cp "$work/target/release/libaion_wasmtime.a" "$wasmtime_dir.tmp/lib/libwasmtime.a"
  rm -rf "$wasmtime_dir" && mv "$wasmtime_dir.tmp" "$wasmtime_dir"
  rm -rf "$work"
fi
