#!/usr/bin/env bash
# Starts the Big Data Edition natively (no Docker): installs the engines if
# needed (scripts/test-bigdata.sh --install-only, cached), then Kafka,
# ClickHouse, SeaweedFS S3 and the Spark streaming job on loopback, in the
# foreground until Ctrl-C (bigdata/native_up.py; docs/bigdata.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"
AION_BIGDATA_SUPERSET="${AION_BIGDATA_SUPERSET:-0}" ./scripts/test-bigdata.sh --install-only
export AION_BIGDATA_CACHE="$(aion_cache_root)/bigdata"
exec python3 bigdata/native_up.py "$@"
