# syntax=docker/dockerfile:1.7
# aiond: one image for every role; the role is the argument (docs/deploy.md).
#
#   docker build -f deploy/docker/aiond.Dockerfile -t aionos/aiond:0.1.0 .
#   docker run --rm -p 8080:8080 -p 8000:8000 -e AION_GATEWAY_API_KEYS='demo-key:admin|manager' \
#     aionos/aiond:0.1.0                       # embedded profile (--role all)
#   docker run ... aionos/aiond:0.1.0 --role modhost   # the roles apart (docs/roles.md):
#   docker run ... -e AION_MODHOST_GRPC=HOST:50071 aionos/aiond:0.1.0 --role control
#   docker run ... -e AION_CONTROL_GRPC=HOST:50061 aionos/aiond:0.1.0 --role gateway
#
# Build from the repository root (the context); .dockerignore keeps build/,
# .git and local state out of it. tests/e2e/test_deploy.py lints this file.

# ---------------------------------------------------------------------------
# Build: Debian 12 (bookworm) with the rustup toolchain the wasmtime C API
# needs (Debian's Rust 1.63 is too old for it; it still builds the guest
# modules, as on a developer's machine). The tag follows deps/versions.env
# (RUST_VERSION, DEBIAN_RELEASE); test_deploy.py checks they agree.
FROM rust:1.95.0-bookworm AS build

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive

# The build packages of scripts/install-deps.sh, at the versions of
# deps/versions.env: everything there except the tools only tests use
# (test_deploy.py keeps the two lists in step).
COPY deps/versions.env /tmp/versions.env
RUN . /tmp/versions.env \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ccache \
      "libboost${BOOST_VERSION}-dev" "libboost-json${BOOST_VERSION}-dev" libssl-dev libsqlite3-dev libyaml-cpp-dev \
      libspdlog-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
      prometheus-cpp-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev \
      libhiredis-dev libpq-dev librdkafka-dev libmongoc-dev libbson-dev libseccomp-dev libcap-dev libjemalloc-dev \
      rustc cargo libstd-rust-dev-wasm32 lld \
      librust-serde-dev librust-serde-json-dev librust-serde-derive-dev \
      python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# wasmtime (scripts/install-deps.sh's recipe), then aiond and the signed
# modules (scripts/build.sh); staged under /out. The caches keep the wasmtime
# build, ccache and the crate downloads between image builds.
RUN --mount=type=cache,target=/root/.cache \
    --mount=type=cache,target=/usr/local/cargo/registry \
    AION_BUILD_DIR=/src/build bash deploy/docker/build-aiond.sh /out

# ---------------------------------------------------------------------------
# Runtime: Debian 12 slim with only the shared libraries aiond links
# (`ldd build/aiond` mapped to packages with `dpkg -S`; test_deploy.py checks
# the list against the built binary) and CA certificates for the providers.
FROM debian:12.11-slim AS runtime

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY deps/versions.env /tmp/versions.env
RUN . /tmp/versions.env \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libabsl20220623 libbson-1.0-0 "libboost-json${BOOST_VERSION}.0" libc-ares2 libc6 libcom-err2 libffi8 \
      libfmt9 libgcc-s1 libgmp10 libgnutls30 libgrpc++1.51 libgrpc29 libgssapi-krb5-2 libhiredis0.14 \
      libhogweed6 libicu72 libidn2-0 libjemalloc2 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 \
      libldap-2.5-0 liblz4-1 libmongoc-1.0-0 libmongocrypt0 libnettle8 libp11-kit0 libpq5 \
      libprometheus-cpp-core1.0 libprotobuf32 librdkafka1 libre2-9 libsasl2-2 libseccomp2 libsnappy1v5 \
      libspdlog1.10 libsqlite3-0 libssl3 libstdc++6 libtasn1-6 libunistring2 libyaml-cpp0.7 libzstd1 zlib1g \
 && rm -rf /var/lib/apt/lists/* /tmp/versions.env \
 && groupadd --system --gid 10001 aion \
 && useradd --system --uid 10001 --gid aion --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin aion \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/aionos

# Read-only at run time: the binary, the modules and their trusted key, the
# shipped policies. Everything aiond writes goes under AION_DATA_DIR (the
# SQLite database, registered modules; a module host's received artifacts), a
# volume; nothing else is written, so the root filesystem can be mounted
# read-only (a tmpfs on /tmp is still wise).
COPY --from=build /out /opt/aionos
COPY deploy/docker/healthcheck.sh /opt/aionos/bin/healthcheck

ENV AION_POLICY_DIR=/opt/aionos/policies \
    AION_MODULE_DIR=/opt/aionos/modules \
    AION_DATA_DIR=/var/lib/aionos \
    AION_BIND_ADDRESS=0.0.0.0 \
    AION_LOG_FORMAT=json

VOLUME ["/var/lib/aionos"]
WORKDIR /var/lib/aionos
# The default ports of docs/configuration.md: gateway REST+SSE
# (AION_GATEWAY_PORT), gateway gRPC (AION_GATEWAY_GRPC_PORT), control admin
# REST (AION_CONTROL_PORT), control's internal gRPC for gateways
# (AION_CONTROL_GRPC_PORT, --role control), the module host's internal gRPC for
# the control plane (AION_MODHOST_GRPC_PORT) and its /healthz, /readyz,
# /metrics (AION_MODHOST_PORT, --role modhost).
EXPOSE 8080 50051 8000 50061 50071 8090

LABEL org.opencontainers.image.title="aiond" \
      org.opencontainers.image.description="aionOS daemon: gateway, control plane and module host" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"

USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/opt/aionos/bin/healthcheck"]
# SIGTERM: stop accepting, let running tasks finish (up to 30 s), write what is
# behind; give it 40 s or more before SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/aionos/bin/aiond"]
CMD ["--role", "all"]
