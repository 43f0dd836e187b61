#!/usr/bin/env bash
# Closed-loop load against the /process endpoint: REQUESTS requests in total, CONCURRENCY
# at a time (what the seed did with xargs + curl), measured by rtc-load.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/load_gen.sh [--in-cluster] [URL] [CONCURRENCY] [REQUESTS]

  URL          target (default http://localhost:8080/process?pixels=1280x720&iters=5)
  CONCURRENCY  requests in flight at once (default 20)
  REQUESTS     total requests (default 200)
  --in-cluster run rtc-load as a Kubernetes Job in namespace rtc (gpu-media's image,
               admitted by k8s/load's NetworkPolicy), e.g. against the Service's
               ClusterIP: the seed's SVC_IP quick test

Each request is a POST with an empty body, as the seed's curl loop sent it.

Prints rtc-load's summary: offered, served and refused requests (in total and
per second), latency percentiles of the served ones (p50 ... p99.9), status codes
and transport errors. A refused request (503, 429) waits what Retry-After says
before it is sent again, as rtc-load's closed loop does by default; REQUESTS counts
every attempt. For the storm (retry at once), open-loop runs, ramps, JSON or an
HTML report, call rtc-load directly (npx rtc-load --help).

Examples:
  scripts/load_gen.sh "http://localhost:8080/process?pixels=1920x1080&iters=10" 40 800
  SVC_IP=$(kubectl -n rtc get svc gpu-media -o jsonpath='{.spec.clusterIP}')
  scripts/load_gen.sh --in-cluster "http://${SVC_IP}/process?pixels=1920x1080&iters=10" 40 800
USAGE
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  usage
  exit 0
fi
if [[ "${1:-}" == "--in-cluster" ]]; then
  export RTC_LOAD_IN_CLUSTER=1
  shift
fi
if [[ $# -gt 3 ]]; then
  usage >&2
  exit 2
fi

URL="${1:-http://localhost:8080/process?pixels=1280x720&iters=5}"
CONCURRENCY="${2:-20}"
REQUESTS="${3:-200}"

for value in "$CONCURRENCY" "$REQUESTS"; do
  if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "load_gen.sh: CONCURRENCY and REQUESTS must be whole numbers >= 1 (got '$value')" >&2
    exit 2
  fi
done

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# shellcheck source=scripts/lib/rtc-load.sh
source "$SCRIPT_DIR/lib/rtc-load.sh"

echo "Load: ${REQUESTS} requests to ${URL}, concurrency ${CONCURRENCY}"
# POST with an empty body, as the seed's curl loop sent it: the service processes its test card.
run_rtc_load "$URL" --method POST --concurrency "$CONCURRENCY" --requests "$REQUESTS" --requests-per-connection 50
