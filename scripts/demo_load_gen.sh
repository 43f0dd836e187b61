#!/usr/bin/env bash
# Presentation scenarios for the autoscaling demo: each one drives /process with rtc-load
# (closed loop) and says what to watch while the HPA reacts.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/demo_load_gen.sh SCENARIO [HOST] [-- extra rtc-load options]

Scenarios (closed loop: concurrency, total requests, frame size, iterations):
  baseline   c=5   n=50    1280x720   iters=3    light load, nothing should scale
  moderate   c=20  n=200   1920x1080  iters=8    enough to trigger scaling
  heavy      c=50  n=500   1920x1080  iters=15   dramatic scale-out
  sustained  c=30  n=1000  1920x1080  iters=10   long enough to watch replicas settle

HOST defaults to http://localhost:8080. Options after -- go to rtc-load as they are,
e.g. -- --html heavy.html --prometheus http://localhost:9090

While it runs, watch:
  kubectl -n rtc get hpa -w
  the Grafana dashboard (observability/grafana-dashboard.json): p95 latency vs replicas
USAGE
}

SCENARIO="${1:-}"
case "$SCENARIO" in
  -h | --help)
    usage
    exit 0
    ;;
  baseline) CONCURRENCY=5 REQUESTS=50 PIXELS=1280x720 ITERS=3 ;;
  moderate) CONCURRENCY=20 REQUESTS=200 PIXELS=1920x1080 ITERS=8 ;;
  heavy) CONCURRENCY=50 REQUESTS=500 PIXELS=1920x1080 ITERS=15 ;;
  sustained) CONCURRENCY=30 REQUESTS=1000 PIXELS=1920x1080 ITERS=10 ;;
  "")
    usage >&2
    exit 2
    ;;
  *)
    echo "demo_load_gen.sh: unknown scenario '$SCENARIO' (baseline, moderate, heavy or sustained)" >&2
    exit 2
    ;;
esac
shift

HOST="http://localhost:8080"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  HOST="${1%/}"
  shift
fi
if [[ $# -gt 0 && "$1" == "--" ]]; then
  shift
fi
EXTRA_ARGS=("$@")

# Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  BOLD=$'\033[1m' GREEN=$'\033[32m' YELLOW=$'\033[33m' RED=$'\033[31m' CYAN=$'\033[36m' RESET=$'\033[0m'
else
  BOLD='' GREEN='' YELLOW='' RED='' CYAN='' RESET=''
fi

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# shellcheck source=scripts/lib/rtc-load.sh
source "$SCRIPT_DIR/lib/rtc-load.sh"

health_check() {
  local url="$1"
  if command -v curl >/dev/null 2>&1; then
    curl --silent --show-error --fail --max-time 5 --output /dev/null "$url"
  else
    node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url"
  fi
}

URL="${HOST}/process?pixels=${PIXELS}&iters=${ITERS}"

echo "${BOLD}${CYAN}== rtc-scale demo: ${SCENARIO} ==${RESET}"
echo "   ${REQUESTS} requests, concurrency ${CONCURRENCY}, ${PIXELS} frames, ${ITERS} iterations"
echo "   target: ${URL}"
echo

echo -n "Checking ${HOST}/healthz ... "
if ! health_check "${HOST}/healthz" 2>/dev/null; then
  echo "${RED}unreachable${RESET}"
  echo "${RED}The service at ${HOST} does not answer /healthz.${RESET}" >&2
  echo "Start it (npm start) or port-forward it (kubectl -n rtc port-forward svc/gpu-media 8080:80), or pass HOST." >&2
  exit 1
fi
echo "${GREEN}ok${RESET}"
echo

echo "${YELLOW}Watch while it runs:${RESET}"
echo "   kubectl -n rtc get hpa -w"
echo "   kubectl -n rtc get pods -w"
echo "   Grafana: the rtc-scale dashboard (observability/grafana-dashboard.json), p95 latency against replicas"
echo

START_SECONDS=$SECONDS
# The ${a[@]+...} form keeps `set -u` quiet on an empty array in older bash (macOS ships 3.2).
run_rtc_load "$URL" --concurrency "$CONCURRENCY" --requests "$REQUESTS" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
echo
echo "${GREEN}${BOLD}Scenario ${SCENARIO} finished in $((SECONDS - START_SECONDS)) s.${RESET}"
case "$SCENARIO" in
  baseline) echo "Next: scripts/demo_load_gen.sh moderate ${HOST}  (p95 should climb towards the target)" ;;
  moderate) echo "Next: scripts/demo_load_gen.sh heavy ${HOST}  (expect the HPA to add replicas)" ;;
  heavy | sustained) echo "Now watch replicas scale back down once the load stops: kubectl -n rtc get hpa -w" ;;
esac
