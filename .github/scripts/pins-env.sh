#!/usr/bin/env bash
# CI only: hands deps/versions.env to the later steps of a GitHub Actions job
# (as $GITHUB_ENV), so the toolchain set-up actions read the same pins as the
# scripts do: `with: go-version: ${{ env.GO_VERSION }}`.
set -euo pipefail
pins="$(dirname "${BASH_SOURCE[0]}")/../../deps/versions.env"
: "${GITHUB_ENV:?pins-env.sh runs inside GitHub Actions}"
sed -nE 's/^([A-Z][A-Z0-9_]*=[^[:space:]#]*).*/\1/p' "$pins" >>"$GITHUB_ENV"
