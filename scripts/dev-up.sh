#!/usr/bin/env bash
# Installs what is missing, builds, and starts aiond in the foreground on the
# embedded profile (SQLite, in-process bus, local WASM modules). Ctrl-C stops it.
#
# --cluster: the roles apart on real engines, without Docker: a PostgreSQL 15
# cluster and a Redis server (under AION_DATA_DIR/cluster), one control role
# on PostgreSQL and two gateway roles sharing Redis (docs/roles.md). Ctrl-C
# stops them all. KAFKA_BROKERS, if set, is passed to the control role.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/lib.sh"
cd "$here"

cluster=false
case "${1:-}" in
  "") ;;
  --cluster) cluster=true ;;
  -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) log "unknown option '$1' (try --cluster or --help)"; exit 2 ;;
esac

./scripts/install-deps.sh
./scripts/build.sh

if [[ -f .env ]]; then
  log "loading .env"
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi
if [[ -z "${AION_GATEWAY_API_KEYS:-}" ]]; then
  export AION_GATEWAY_API_KEYS='demo-key:admin|manager'
  log "no AION_GATEWAY_API_KEYS set: using the demo key 'demo-key' (roles admin|manager)"
  log "  try: curl -X POST http://localhost:${AION_GATEWAY_PORT:-8080}/v1/tasks -H 'X-API-Key: demo-key' \\"
  log "         -H 'Content-Type: application/json' -d '{\"schemaVersion\":\"1.0\",\"intent\":\"summarize\",\"params\":{\"text\":\"hello world\"}}'"
fi
export AION_POLICY_DIR="${AION_POLICY_DIR:-$here/policies}"
export AION_DATA_DIR="${AION_DATA_DIR:-$here/data}"
# The web console (production build) on AION_CONSOLE_PORT (3000), stopped with aiond; AION_CONSOLE=0 skips it.
[[ "${AION_CONSOLE:-1}" == 0 ]] || ./scripts/console-up.sh $$ || log "the console did not start (see above); aiond starts anyway"
$cluster || exec "$here/build/aiond"

# ---- --cluster ------------------------------------------------------------------------------
gw1="${AION_GATEWAY_PORT:-8080}" gw2=$((${AION_GATEWAY_PORT:-8080} + 1))
grpc1="${AION_GATEWAY_GRPC_PORT:-50051}" grpc2=$((${AION_GATEWAY_GRPC_PORT:-50051} + 1))
ctl="${AION_CONTROL_PORT:-8000}" internal="${AION_CONTROL_GRPC_PORT:-50061}"
pg_port="${AION_CLUSTER_PG_PORT:-55432}" redis_port="${AION_CLUSTER_REDIS_PORT:-56379}"
dir="$AION_DATA_DIR/cluster"
mkdir -p "$dir"
pids=()
pg_bin="" pgdir="$dir/pg" as_pg=()
stop_all() {
  trap - EXIT INT TERM
  log "stopping the cluster"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z "$pg_bin" ]] || "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdir" -m fast -w stop >/dev/null 2>&1 || true
}
trap stop_all EXIT INT TERM

# PostgreSQL refuses to run as root: as root it runs as the unprivileged user aionpg.
pg_bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -1)"
[[ -x "$pg_bin/initdb" ]] || { log "error: PostgreSQL server binaries not found (apt package postgresql)"; exit 1; }
if ((EUID == 0)); then
  id aionpg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin aionpg
  as_pg=(runuser -u aionpg --)
  mkdir -p "$pgdir" && chown aionpg "$pgdir"
  if ! "${as_pg[@]}" test -w "$pgdir"; then  # a parent dir closed to other users
    pgdir="${TMPDIR:-/tmp}/aionos-cluster-pg-$(printf %s "$dir" | sha256sum | cut -c1-12)"
    mkdir -p "$pgdir" && chown aionpg "$pgdir" && chmod 700 "$pgdir"
    log "PostgreSQL data in $pgdir ($dir is closed to the user aionpg)"
  fi
fi
if [[ ! -f "$pgdir/PG_VERSION" ]]; then
  log "initdb $pgdir"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pgdir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
log "PostgreSQL on 127.0.0.1:$pg_port"
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdir" -l "$pgdir/postgres.log" -w -t 60 \
  -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc \
  "SELECT 1 FROM pg_database WHERE datname='aion'" | grep -q 1 ||
  "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE aion"

log "Redis on 127.0.0.1:$redis_port"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  >"$dir/redis.log" 2>&1 &
pids+=($!)

# Starts `aiond --role ROLE` with extra env, logging to $dir/ROLE.log; waits for it.
start_role() {
  local name="$1" role="$2"
  shift 2
  env "$@" "$here/build/aiond" --role "$role" >"$dir/$name.out" 2>"$dir/$name.log" &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q '^aiond ready' "$dir/$name.out" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  log "error: $name did not start:"; tail -n 20 "$dir/$name.log" >&2; exit 1
}
start_role control control AION_CONTROL_POSTGRES_DSN="host=127.0.0.1 port=$pg_port user=postgres dbname=aion" \
  AION_CONTROL_PORT="$ctl" AION_CONTROL_GRPC_PORT="$internal" AION_DATA_DIR="$dir/control"
for i in 1 2; do
  port=$([[ $i == 1 ]] && echo "$gw1" || echo "$gw2")
  gport=$([[ $i == 1 ]] && echo "$grpc1" || echo "$grpc2")
  start_role "gateway$i" gateway AION_CONTROL_GRPC="127.0.0.1:$internal" AION_GATEWAY_PORT="$port" \
    AION_GATEWAY_GRPC_PORT="$gport" AION_CONTROL_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
    AION_DATA_DIR="$dir/gateway$i"
done
cat <<EOM
aiond cluster ready (roles apart; logs in $dir)
  gateway  http://localhost:$gw1   grpc localhost:$grpc1
  gateway  http://localhost:$gw2   grpc localhost:$grpc2
  control  http://localhost:$ctl   internal grpc localhost:$internal (PostgreSQL 127.0.0.1:$pg_port, Redis 127.0.0.1:$redis_port)
EOM
wait -n "${pids[@]}" || true
log "a process of the cluster ended; see $dir/*.log"
