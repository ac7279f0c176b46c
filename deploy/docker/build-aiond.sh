#!/usr/bin/env bash
# Runs in the build stage of deploy/docker/aiond.Dockerfile. Builds aiond and
# the signed guest modules the way a developer does, then stages what the
# runtime image needs under OUT_DIR:
#   OUT_DIR/bin/aiond            stripped
#   OUT_DIR/modules/             *.wasm, native module executables, signed
#                                manifests, SBOMs, trusted-keys/*.pub
#   OUT_DIR/policies/            the shipped policy files
# The apt packages are installed by the Dockerfile (the build list of
# scripts/install-deps.sh); the rest of install-deps.sh installs test tools
# (grpcurl, cosign, Jaeger, Kafka, npm and pip packages) an image does not need.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:?usage: build-aiond.sh OUT_DIR}"
source "$here/scripts/lib.sh"
build_dir="${AION_BUILD_DIR:-$here/build}"

# The wasmtime C API, built by the block of scripts/install-deps.sh that
# developers run: taken from that file at build time (from its comment line
# naming "wasmtime C API" to its closing `fi`), not copied, so the image links
# the same pinned wasmtime (deps/versions.env, deps/wasmtime/Cargo.lock).
# tests/e2e/test_deploy.py checks the block is still there and parses.
wasmtime_block="$(sed -n '/^#.*wasmtime C API/,/^fi$/p' "$here/scripts/install-deps.sh")"
if [[ -z "$wasmtime_block" || "$wasmtime_block" != *libwasmtime.a* ]]; then
  log "error: no wasmtime C API block in scripts/install-deps.sh (see deploy/docker/build-aiond.sh)"
  exit 1
fi
eval "$wasmtime_block"

# aiond and the guest modules with their signatures (modules/all); no tests,
# no benchmarks.
"$here/scripts/build.sh" aiond modules/all

rm -rf "$out"
install -D -m 0755 "$build_dir/aiond" "$out/bin/aiond"
strip --strip-unneeded "$out/bin/aiond"
mkdir -p "$out/modules/trusted-keys"
# Every artifact, manifest and SBOM the build wrote (not CMake's own files).
find "$build_dir/modules" -maxdepth 1 -type f ! -name '*.cmake' -exec cp -p {} "$out/modules/" \;
cp -p "$build_dir"/modules/trusted-keys/*.pub "$out/modules/trusted-keys/"
cp -rp "$here/policies" "$out/policies"
# The build's private signing key stays in the build stage (module-signing/).
log "staged $(find "$out" -type f | wc -l) files in $out"
