#!/usr/bin/env bash
# Presentation scenarios for the autoscaling demo: each one drives /process with rtc-load
# (closed loop) and says what to watch while the HPA reacts.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/demo_load_gen.sh SCENARIO [HOST] [--duration D] [--rate R] [--clients C] [--in-cluster] [-- rtc-load options]

Scenarios (the seed's names and settings; each now runs for a duration long enough for a
Prometheus scrape, the rate[2m] window and a KEDA poll to see it):
  baseline   closed loop c=5   1280x720   iters=3    2m    light load, nothing should scale
  moderate   closed loop c=20  1920x1080  iters=8    5m    enough to trigger scaling
  heavy      closed loop c=50  1920x1080  iters=15   5m    dramatic scale-out
  sustained  closed loop c=30  1920x1080  iters=10   15m   long enough to watch replicas settle
  demo       open loop         1920x1080  iters=8    8m    ramp 0 -> R req/s over a quarter,
                                                           hold R for half, ramp to 0 over the
                                                           last quarter (scale-up, then scale-down)

  --duration D   shorten or lengthen the scenario (30s, 2m, ...); demo keeps its 1:2:1 shape
  --rate R       demo's peak rate in requests per second (default: with --in-cluster the peak
                 scripts/deploy.sh --demo sized, a multiple of one pod's knee, from the
                 ConfigMap rtc-demo; otherwise, or when there is none, 40)
  --clients C    how the clients take a refusal (503, 429):
                   polite    wait what Retry-After says, jittered (the default)
                   storm     retry at once, ignoring Retry-After (what hey and impatient
                             retry loops do): the closed-loop scenarios only
                   adaptive  polite, and throttle themselves when most requests are
                             refused (client-side adaptive throttling, Google SRE book)
  --in-cluster   run rtc-load as a Kubernetes Job next to the service (HOST then defaults to
                 http://gpu-media.rtc.svc), sampling kube-prometheus-stack's Prometheus
                 (PROMETHEUS_URL to change it); see scripts/load_gen.sh --help

Every scenario closes each connection after 50 requests (--requests-per-connection 50), so
kube-proxy and the Ingress spread the load onto pods as the autoscaler adds them.
HOST defaults to http://localhost:8080. Options after -- go to rtc-load as they are,
e.g. -- --html demo.html --prometheus http://localhost:9090

rtc-load's live line shows offered, served and refused per second, the served p95, and
what the HPA would ask for from served latency and refusals (HPA 1 pod: p95 … refused … -> N).
Compare `heavy --clients storm` with `heavy`: the storm multiplies what is offered, not what
is served.

While it runs, watch:
  kubectl -n rtc get hpa -w
  the Grafana dashboard (observability/grafana-dashboard.json): p95 latency vs replicas
USAGE
}

# "30s", "2m", "1h" -> seconds; empty on anything else.
to_seconds() {
  if [[ "$1" =~ ^([0-9]+)(s|m|h)$ ]]; then
    case "${BASH_REMATCH[2]}" in
      s) echo "${BASH_REMATCH[1]}" ;;
      m) echo $((BASH_REMATCH[1] * 60)) ;;
      h) echo $((BASH_REMATCH[1] * 3600)) ;;
    esac
  fi
}

SCENARIO="${1:-}"
case "$SCENARIO" in
  -h | --help)
    usage
    exit 0
    ;;
  baseline) CONCURRENCY=5 SECONDS_PLANNED=120 PIXELS=1280x720 ITERS=3 ;;
  moderate) CONCURRENCY=20 SECONDS_PLANNED=300 PIXELS=1920x1080 ITERS=8 ;;
  heavy) CONCURRENCY=50 SECONDS_PLANNED=300 PIXELS=1920x1080 ITERS=15 ;;
  sustained) CONCURRENCY=30 SECONDS_PLANNED=900 PIXELS=1920x1080 ITERS=10 ;;
  demo) CONCURRENCY='' SECONDS_PLANNED=480 PIXELS=1920x1080 ITERS=8 ;;
  "")
    usage >&2
    exit 2
    ;;
  *)
    echo "demo_load_gen.sh: unknown scenario '$SCENARIO' (baseline, moderate, heavy, sustained or demo)" >&2
    exit 2
    ;;
esac
shift

HOST=""
RATE=""
CLIENTS=polite
IN_CLUSTER=0
while [[ $# -gt 0 && "$1" != "--" ]]; do
  case "$1" in
    --duration)
      SECONDS_PLANNED="$(to_seconds "${2:-}")"
      if [[ -z "$SECONDS_PLANNED" || "$SECONDS_PLANNED" -lt 1 ]]; then
        echo "demo_load_gen.sh: --duration must look like 30s, 2m or 1h (got '${2:-}')" >&2
        exit 2
      fi
      shift 2
      ;;
    --rate)
      if ! [[ "${2:-}" =~ ^[1-9][0-9]*$ ]]; then
        echo "demo_load_gen.sh: --rate must be a whole number of requests per second (got '${2:-}')" >&2
        exit 2
      fi
      RATE="$2"
      shift 2
      ;;
    --clients)
      case "${2:-}" in
        polite | storm | adaptive) CLIENTS="$2" ;;
        *)
          echo "demo_load_gen.sh: --clients must be polite, storm or adaptive (got '${2:-}')" >&2
          exit 2
          ;;
      esac
      shift 2
      ;;
    --in-cluster)
      IN_CLUSTER=1
      shift
      ;;
    -*)
      echo "demo_load_gen.sh: unknown option '$1' (rtc-load options go after --)" >&2
      exit 2
      ;;
    *)
      HOST="${1%/}"
      shift
      ;;
  esac
done
if [[ $# -gt 0 && "$1" == "--" ]]; then
  shift
fi
if [[ -z "$HOST" ]]; then
  if [[ "$IN_CLUSTER" == 1 ]]; then HOST="http://gpu-media.rtc.svc"; else HOST="http://localhost:8080"; fi
fi
EXTRA_ARGS=("$@")
# The demo's peak: as given, else what deploy.sh --demo measured (3 x one pod's knee), else 40.
RATE_SOURCE="--rate"
if [[ -z "$RATE" ]]; then
  RATE=40
  RATE_SOURCE="the default; scripts/deploy.sh --demo sizes it to the pods"
  if [[ "$SCENARIO" == demo && "$IN_CLUSTER" == 1 && "${RTC_LOAD_DRY_RUN:-0}" != 1 ]]; then
    SIZED="$(kubectl -n rtc get configmap rtc-demo -o jsonpath='{.data.peak-rate}' 2>/dev/null || true)"
    if [[ "$SIZED" =~ ^[1-9][0-9]*$ ]]; then
      RATE="$SIZED"
      RATE_SOURCE="sized by deploy.sh --demo: $(kubectl -n rtc get configmap rtc-demo -o jsonpath='{.data.pods-at-peak}' 2>/dev/null || true) pods at the peak"
    fi
  fi
fi
if [[ "$SCENARIO" == demo && "$CLIENTS" == storm ]]; then
  echo "demo_load_gen.sh: demo is an open loop (each scheduled request sent once, never retried): --clients storm is for baseline, moderate, heavy and sustained" >&2
  exit 2
fi

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
if [[ "$SCENARIO" == demo ]]; then
  QUARTER=$((SECONDS_PLANNED / 4 > 0 ? SECONDS_PLANNED / 4 : 1))
  HOLD=$((SECONDS_PLANNED - 2 * QUARTER > 0 ? SECONDS_PLANNED - 2 * QUARTER : 1))
  PLAN=(--stages "${QUARTER}s:${RATE},${HOLD}s:${RATE},${QUARTER}s:0")
  echo "   ramp to ${RATE} req/s over ${QUARTER}s, hold ${HOLD}s, ramp down over ${QUARTER}s; ${PIXELS} frames, ${ITERS} iterations"
  echo "   the peak: ${RATE_SOURCE}"
else
  PLAN=(--concurrency "$CONCURRENCY" --duration "${SECONDS_PLANNED}s")
  echo "   ${SECONDS_PLANNED}s at concurrency ${CONCURRENCY}, ${PIXELS} frames, ${ITERS} iterations"
fi
case "$CLIENTS" in
  storm)
    PLAN+=(--retry-immediately)
    echo "   storm clients: a refused request is sent again at once, Retry-After ignored"
    ;;
  adaptive)
    PLAN+=(--adaptive-throttle)
    echo "   polite clients with adaptive throttling: they wait Retry-After and shed load themselves"
    ;;
  *) [[ "$SCENARIO" == demo ]] || echo "   polite clients: a refused request waits Retry-After (jittered) before it is sent again" ;;
esac
echo "   target: ${URL}"
echo

if [[ "$IN_CLUSTER" == 1 ]]; then
  export RTC_LOAD_IN_CLUSTER=1
  # The Job's report then shows the replicas, served p95 and refusals the autoscaler saw (k8s/load admits it).
  PLAN+=(--prometheus "${PROMETHEUS_URL:-http://kube-prometheus-stack-prometheus.monitoring.svc:9090}")
elif [[ "${RTC_LOAD_DRY_RUN:-0}" == 1 ]]; then
  echo "(dry run: ${HOST}/healthz not checked)"
else
  echo -n "Checking ${HOST}/healthz ... "
  if ! health_check "${HOST}/healthz" 2>/dev/null; then
    echo "${RED}unreachable${RESET}"
    echo "${RED}The service at ${HOST} does not answer /healthz.${RESET}" >&2
    echo "Start it (npm start), pass HOST (the Ingress address), or use --in-cluster on a cluster" >&2
    echo "(a kubectl port-forward pins one pod: pods the autoscaler adds would get no load)." >&2
    exit 1
  fi
  echo "${GREEN}ok${RESET}"
fi
echo

echo "${YELLOW}Watch while it runs:${RESET}"
echo "   kubectl -n rtc get hpa -w"
echo "   kubectl -n rtc get pods -w"
echo "   Grafana: the rtc-scale dashboard (observability/grafana-dashboard.json), p95 latency against replicas"
echo "   the line below: offered, served and refused per second, served p95, and what the HPA would ask for"
echo

START_SECONDS=$SECONDS
# The ${a[@]+...} form keeps `set -u` quiet on an empty array in older bash (macOS ships 3.2).
run_rtc_load "$URL" --method POST "${PLAN[@]}" --requests-per-connection 50 ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
echo
echo "${GREEN}${BOLD}Scenario ${SCENARIO} finished in $((SECONDS - START_SECONDS)) s.${RESET}"
case "$SCENARIO" in
  baseline) echo "Next: scripts/demo_load_gen.sh moderate ${HOST}  (p95 should climb towards the target)" ;;
  moderate) echo "Next: scripts/demo_load_gen.sh heavy ${HOST}  (expect the HPA to add replicas)" ;;
  heavy)
    echo "Now watch replicas scale back down once the load stops: kubectl -n rtc get hpa -w"
    if [[ "$CLIENTS" != storm ]]; then
      echo "Then the same load from impatient clients: scripts/demo_load_gen.sh heavy ${HOST} --clients storm  (more offered, no more served)"
    fi
    ;;
  sustained | demo) echo "Now watch replicas scale back down once the load stops: kubectl -n rtc get hpa -w" ;;
esac
