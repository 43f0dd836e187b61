#!/usr/bin/env bash
# Starts N replicas of the service on this machine behind HAProxy (round-robin, every call may land on
# another replica), prints the balancer's URL and runs until Ctrl-C. Needs haproxy (Debian package).
set -euo pipefail

usage() {
  cat <<USAGE
Usage: scripts/local_fleet.sh [--replicas N]

Starts N (default 3) replicas behind HAProxy on 127.0.0.1 and prints the balancer's URL.
Replica settings come from the environment (WORKERS, MAX_SESSIONS, WHIP_TOKEN, ...).
USAGE
}

replicas=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --replicas) replicas="${2:?--replicas needs a number}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if ! command -v haproxy >/dev/null && [[ ! -x /usr/sbin/haproxy ]]; then
  echo "haproxy is not installed (apt-get install haproxy)" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
exec node --import tsx scripts/local-fleet.ts "$replicas"
