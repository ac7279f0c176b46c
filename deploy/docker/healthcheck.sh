#!/bin/bash
# HEALTHCHECK of the aiond image (bash and coreutils only: the runtime image
# has no curl). Checks the role this container runs:
#   all, gateway  GET /healthz on AION_GATEWAY_PORT (8080)
#   control       GET /healthz on AION_CONTROL_PORT (8000)
#   modhost       GET /healthz on AION_MODHOST_PORT (8090)
# With AION_TLS_CERT set the gateway and control listeners speak TLS only,
# which bash cannot: then a TCP connect is the check. The module host's port
# is plain HTTP whatever AION_TLS_CERT says (aiond serves it without TLS), so it
# always gets the GET. The role is the first argument, else the --role
# of the aiond process found in /proc (compose and Kubernetes run it as PID 1,
# or under an init). Exit 0: healthy; 1: not.
set -uo pipefail
# A peer that closes early (a gRPC port, a dying aiond) must give exit 1, not
# death by SIGPIPE: Docker reads any status but 0 and 1 as an error of the check.
trap '' PIPE

role="${1:-}"
if [[ -z "$role" ]]; then
  role=all
  for f in /proc/[0-9]*/cmdline; do
    argv=()
    mapfile -d '' -t argv <"$f" 2>/dev/null || continue
    ((${#argv[@]})) && [[ "${argv[0]##*/}" == aiond ]] || continue
    for ((i = 1; i < ${#argv[@]}; i++)); do
      case "${argv[i]}" in
        --role) role="${argv[i + 1]:-all}" ;;
        --role=*) role="${argv[i]#--role=}" ;;
      esac
    done
    break
  done
fi

case "$role" in
  all | gateway) port="${AION_GATEWAY_PORT:-8080}" ;;
  control) port="${AION_CONTROL_PORT:-8000}" ;;
  modhost) port="${AION_MODHOST_PORT:-8090}" ;;
  *) echo "healthcheck: unknown role '$role'" >&2; exit 1 ;;
esac

host="${AION_BIND_ADDRESS:-0.0.0.0}"
[[ "$host" == 0.0.0.0 || "$host" == "::" ]] && host=127.0.0.1

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "healthcheck: $role: nothing listens on $host:$port" >&2
  exit 1
fi
if [[ -n "${AION_TLS_CERT:-}" && "$role" != modhost ]]; then
  exit 0
fi
status=""
if printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' 2>/dev/null >&3; then
  IFS= read -r -t 3 status <&3
fi
if [[ "$status" =~ ^HTTP/1\.[01]\ 200 ]]; then
  exit 0
fi
echo "healthcheck: $role: GET http://$host:$port/healthz answered '${status//[^[:print:]]/?}'" >&2
exit 1
