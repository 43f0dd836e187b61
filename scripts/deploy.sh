#!/usr/bin/env bash
# Deploys the media service: monitoring and autoscaler charts with helm, then the chosen
# kustomize overlay (+ WebRTC networking option), then exactly one autoscaler.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/deploy.sh [options]

  --overlay gpu|cpu           gpu: GPU nodes (default); cpu: laptops (kind, minikube), CPU-only
  --autoscaler cpu|keda|adapter|none
                              cpu: k8s/hpa-cpu.yaml (default, needs metrics-server)
                              keda: KEDA + k8s/hpa-keda-latency.yaml (p95 latency, sessions)
                              adapter: Prometheus Adapter + k8s/hpa-latency-custom.yaml
                              none: fixed size
  --webrtc none|turn|hostport WebRTC media path (default none: HTTP only)
                              turn: coturn relay (k8s/components/webrtc-turn)
                              hostport: UDP hostPorts on the node (k8s/components/webrtc-hostport)
  --turn-host HOST            address clients use for TURN (default: the load balancer
                              addresses of the turn-udp and turn-tcp Services, waited for
                              up to TURN_WAIT_SECONDS, 300)
  --turn-tcp-host HOST        address for TURN over TCP, if it differs from --turn-host
  --trust-proxy LIST          TRUST_PROXY: the ingress controller's pod addresses or CIDRs
                              (comma-separated), the only proxies whose X-Forwarded-For names
                              the client (docs/security.md). Default: none (every client
                              behind the ingress shares its per-client limits)
  --pod-deletion-cost         add k8s/components/pod-deletion-cost (scale-down removes the
                              pods with the fewest calls first); needs Kubernetes 1.30+
  --pod-cidr CIDR             the IPv4 pod range the media pods get addresses from (e.g.
                              10.4.0.0/14; GKE: gcloud container clusters describe NAME
                              --format='value(clusterIpv4Cidr)'; kind: 10.244.0.0/16): the
                              only peers the TURN relay relays to. Required with --webrtc
                              turn unless the Secret gpu-media-ice already has it
  --demo                      everything the autoscaling talk needs in one command: KEDA p95
                              latency autoscaling, a WebRTC media path (turn, unless --webrtc
                              says otherwise), the dashboard, the in-cluster load generator's
                              NetworkPolicy (k8s/load), and one replica to start; prints the
                              next commands
  --demo-rate R               the demo scenario's peak in requests/s, instead of sizing it
  --demo-peak-multiple M      --demo sizes the demo itself: the capacity planner runs in the
                              cluster against the one warm pod (rtc-load plan, 1920x1080 x8,
                              the demo scenario's requests), and the peak is M times that pod's
                              knee (default 3: the HPA goes to about four pods). It is kept in
                              the ConfigMap rtc-demo, which demo_load_gen.sh demo --in-cluster
                              reads. Then the GPU quota is checked (GKE, with gcloud) and the
                              GPU nodes the peak needs are pre-warmed (k8s/load/gpu-prewarm.yaml)
  --no-prewarm                size the demo, but start no placeholder pods (cold GPU nodes
                              take minutes: node, driver, image)
  --image REGISTRY/IMAGE      the image built by build_and_push.sh (default ghcr.io/rtc-scale/gpu-media)
  --tag TAG                   its tag (the GPU overlay uses TAG-cuda, as build_and_push.sh
                              builds it; default: the overlay's own)
  --gatekeeper                also apply k8s/policy/gatekeeper-sample-constraint.yaml
                              (OPA Gatekeeper must be installed)
  --skip-helm                 do not install or upgrade helm charts
  --context NAME              kube context for kubectl and helm
  --render                    print the manifests for --overlay/--webrtc and exit (needs only
                              kubectl; nothing is applied)
  --dry-run                   print the commands instead of running them
  -h, --help                  show this help

Demo sizing (override with the environment):
  DEMO_PLAN_MAX_RATE     the planner's first ramp top, req/s (default 200; doubled, up to
                         twice more, while the knee is above the ramp)
  DEMO_PLAN_STEPS        steps per ramp (default 6), DEMO_PLAN_STEP_SECONDS (default 10)
  TURN_WAIT_SECONDS      how long to wait for the relay's addresses (default 300)

Chart versions (override with the environment):
  KPS_CHART_VERSION      kube-prometheus-stack  (default 67.11.0)
  KEDA_CHART_VERSION     keda                   (default 2.17.0; the ScaledObject's fallback
                                                 behavior needs KEDA >= 2.17)
  ADAPTER_CHART_VERSION  prometheus-adapter     (default 5.3.0)
USAGE
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

overlay=gpu
autoscaler=cpu
webrtc=none
turn_host=""
turn_tcp_host=""
pod_cidr=""
trust_proxy=""
deletion_cost=false
gatekeeper=false
skip_helm=false
context=""
render_only=false
dry_run=false
demo=false
webrtc_given=false
autoscaler_given=false
image=""
tag=""
demo_rate=""
demo_multiple=3
prewarm=true

need_value() {
  if [[ $# -lt 2 || -z "$2" ]]; then
    echo "$1 needs a value (see --help)" >&2
    exit 2
  fi
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --overlay)
      need_value "$@"
      overlay="$2"
      shift
      ;;
    --autoscaler)
      need_value "$@"
      autoscaler="$2"
      autoscaler_given=true
      shift
      ;;
    --webrtc)
      need_value "$@"
      webrtc="$2"
      webrtc_given=true
      shift
      ;;
    --image)
      need_value "$@"
      image="$2"
      shift
      ;;
    --tag)
      need_value "$@"
      tag="$2"
      shift
      ;;
    --demo) demo=true ;;
    --demo-rate)
      need_value "$@"
      demo_rate="$2"
      shift
      ;;
    --demo-peak-multiple)
      need_value "$@"
      demo_multiple="$2"
      shift
      ;;
    --no-prewarm) prewarm=false ;;
    --turn-host)
      need_value "$@"
      turn_host="$2"
      shift
      ;;
    --turn-tcp-host)
      need_value "$@"
      turn_tcp_host="$2"
      shift
      ;;
    --context)
      need_value "$@"
      context="$2"
      shift
      ;;
    --pod-cidr)
      need_value "$@"
      pod_cidr="$2"
      shift
      ;;
    --trust-proxy)
      need_value "$@"
      trust_proxy="$2"
      shift
      ;;
    --pod-deletion-cost) deletion_cost=true ;;
    --gatekeeper) gatekeeper=true ;;
    --skip-helm) skip_helm=true ;;
    --render) render_only=true ;;
    --dry-run) dry_run=true ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "unknown option: $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done

if [[ "${demo}" == true ]]; then
  [[ "${autoscaler_given}" == true ]] || autoscaler=keda
  [[ "${webrtc_given}" == true ]] || webrtc=turn
fi
if [[ -n "${demo_rate}" ]] && ! [[ "${demo_rate}" =~ ^[1-9][0-9]*$ ]]; then
  echo "--demo-rate must be a whole number of requests per second" >&2
  exit 2
fi
if ! [[ "${demo_multiple}" =~ ^([1-9][0-9]*)(\.[0-9]+)?$ ]]; then
  echo "--demo-peak-multiple must be a number of at least 1, e.g. 3 or 2.5" >&2
  exit 2
fi
if [[ -n "${tag}" && "${tag}" == latest ]]; then
  echo "--tag latest is refused (the Gatekeeper policy and rollbacks need a pinned tag)" >&2
  exit 2
fi

case "${overlay}" in gpu | cpu) ;; *)
  echo "--overlay must be gpu or cpu" >&2
  exit 2
  ;;
esac
case "${autoscaler}" in cpu | keda | adapter | none) ;; *)
  echo "--autoscaler must be cpu, keda, adapter or none" >&2
  exit 2
  ;;
esac
case "${webrtc}" in none | turn | hostport) ;; *)
  echo "--webrtc must be none, turn or hostport" >&2
  exit 2
  ;;
esac

# An IPv4 CIDR as coturn's first-last range (10.4.0.0/14 -> 10.4.0.0-10.7.255.255).
cidr_range() {
  local ip="${1%/*}" bits="${1#*/}" a b c d n mask first last
  IFS=. read -r a b c d <<<"${ip}"
  n=$(((a << 24) | (b << 16) | (c << 8) | d))
  mask=$(((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF))
  first=$((n & mask))
  last=$((first | (~mask & 0xFFFFFFFF)))
  printf '%d.%d.%d.%d-%d.%d.%d.%d' \
    $((first >> 24)) $(((first >> 16) & 255)) $(((first >> 8) & 255)) $((first & 255)) \
    $((last >> 24)) $(((last >> 16) & 255)) $(((last >> 8) & 255)) $((last & 255))
}
if [[ -n "${pod_cidr}" ]]; then
  if ! [[ "${pod_cidr}" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] ||
    ((BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255 || BASH_REMATCH[3] > 255 || BASH_REMATCH[4] > 255)) ||
    ((BASH_REMATCH[5] < 8 || BASH_REMATCH[5] > 30)); then
    echo "--pod-cidr must be an IPv4 CIDR from /8 to /30, e.g. 10.4.0.0/14" >&2
    exit 2
  fi
fi

if [[ -n "${trust_proxy}" ]] && ! [[ "${trust_proxy}" =~ ^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$ ]]; then
  echo "--trust-proxy must be comma-separated addresses or CIDRs, e.g. 10.8.0.0/14" >&2
  exit 2
fi

require() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "$1 not found in PATH" >&2
    exit 127
  fi
}
require kubectl
if [[ "${render_only}" == false && "${dry_run}" == false && "${skip_helm}" == false ]]; then
  require helm
fi

KPS_CHART_VERSION="${KPS_CHART_VERSION:-67.11.0}"
KEDA_CHART_VERSION="${KEDA_CHART_VERSION:-2.17.0}"
ADAPTER_CHART_VERSION="${ADAPTER_CHART_VERSION:-5.3.0}"

kubectl_args=()
helm_args=()
if [[ -n "${context}" ]]; then
  kubectl_args=(--context "${context}")
  helm_args=(--kube-context "${context}")
fi

# shellcheck source=scripts/lib/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/run.sh"
# The in-cluster rtc-load Job (the demo's capacity planner); it reads ROOT.
ROOT="${repo_root}"
# shellcheck source=scripts/lib/rtc-load.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/rtc-load.sh"

kc() {
  run kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} "$@"
}

hm() {
  run helm ${helm_args[@]+"${helm_args[@]}"} "$@"
}

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# Kustomize only loads bases and components through relative paths inside a tree it may read,
# so a combined overlay is built in a copy of k8s/ and observability/.
render() {
  local components=()
  [[ "${webrtc}" != none ]] && components+=("webrtc-${webrtc}")
  [[ "${deletion_cost}" == true ]] && components+=(pod-deletion-cost)
  if [[ ${#components[@]} -eq 0 ]]; then
    kubectl kustomize "${repo_root}/k8s/overlays/${overlay}"
    return
  fi
  cp -R "${repo_root}/k8s" "${repo_root}/observability" "${work}/"
  mkdir -p "${work}/k8s/overlays/deploy"
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../%s\ncomponents:\n' "${overlay}"
    printf '  - ../../components/%s\n' "${components[@]}"
  } >"${work}/k8s/overlays/deploy/kustomization.yaml"
  kubectl kustomize "${work}/k8s/overlays/deploy"
}

# TRUST_PROXY's empty value in the manifests replaced with --trust-proxy.
with_trust_proxy() {
  if [[ -z "${trust_proxy}" ]]; then
    cat
    return
  fi
  awk -v value="${trust_proxy}" '
    trust && /^ *value: ""$/ { sub(/""/, "\"" value "\""); trust = 0 }
    { trust = trust || /^ *- name: TRUST_PROXY$/; print }'
}

# The overlay's image (ghcr.io/rtc-scale/gpu-media:0.1.0 or :0.1.0-cuda) swapped for --image/--tag.
with_image() {
  if [[ -z "${image}" && -z "${tag}" ]]; then
    cat
    return
  fi
  local suffix=""
  [[ "${overlay}" == gpu ]] && suffix="-cuda"
  local name="${image:-ghcr.io/rtc-scale/gpu-media}"
  if [[ -n "${tag}" ]]; then
    sed "s#^\\( *image: \\)ghcr.io/rtc-scale/gpu-media:.*\$#\\1${name}:${tag}${suffix}#"
  else
    sed "s#^\\( *image: \\)ghcr.io/rtc-scale/gpu-media:#\\1${name}:#"
  fi
}

if [[ "${render_only}" == true ]]; then
  render | with_image | with_trust_proxy
  exit 0
fi

# Before anything is applied: what the relay needs.
if [[ "${webrtc}" == turn ]]; then
  # The relay's shared secret (kept if the Secret has one, generated otherwise) and the range of
  # peers it may relay to (--pod-cidr, else what the Secret has).
  secret_key() {
    kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc get secret gpu-media-ice \
      -o jsonpath="{.data.$1}" 2>/dev/null | base64 -d 2>/dev/null || true
  }
  turn_secret=""
  peer_range=""
  ice_servers=""
  if [[ "${dry_run}" == false ]]; then
    turn_secret="$(secret_key TURN_SECRET)"
    peer_range="$(secret_key TURN_ALLOWED_PEER_RANGE)"
    ice_servers="$(secret_key ICE_SERVERS)"
  fi
  [[ -n "${turn_secret}" ]] || turn_secret="$(head -c 32 /dev/urandom | base64)"
  [[ -n "${pod_cidr}" ]] && peer_range="$(cidr_range "${pod_cidr}")"
  if [[ -z "${peer_range}" ]]; then
    echo "--webrtc turn needs --pod-cidr: the pod range the media pods get addresses from, the only peers the relay may reach (see --help)" >&2
    exit 2
  fi
fi

manifests="${work}/manifests.yaml"
# The pod-deletion-cost component's admission policy (ValidatingAdmissionPolicy v1, and the pod name
# in bound tokens) needs Kubernetes 1.30: below it the Role alone would let a pod patch any pod.
if [[ "${deletion_cost}" == true ]]; then
  version="$(kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} get --raw /version 2>/dev/null || true)"
  major="$(sed -n 's/.*"major": *"\([0-9]*\).*/\1/p' <<<"${version}")"
  minor="$(sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' <<<"${version}")"
  if [[ -z "${major}" || -z "${minor}" ]]; then
    echo "--pod-deletion-cost: could not read the cluster's version (kubectl get --raw /version); it needs Kubernetes 1.30 or newer" >&2
    exit 1
  fi
  if ((major < 1 || (major == 1 && minor < 30))); then
    echo "--pod-deletion-cost needs Kubernetes 1.30 or newer (its ValidatingAdmissionPolicy keeps each pod to its own annotation); this cluster is ${major}.${minor}" >&2
    exit 1
  fi
fi

render | with_image | with_trust_proxy >"${manifests}"
if [[ -z "${trust_proxy}" ]]; then
  echo "note: TRUST_PROXY is empty: behind an ingress, its clients share one per-client budget; pass --trust-proxy with the ingress controller's pod range (docs/security.md)" >&2
fi
echo "rendered k8s/overlays/${overlay} (webrtc: ${webrtc}) to ${manifests}"

if [[ "${skip_helm}" == false ]]; then
  hm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
  if [[ "${autoscaler}" == keda ]]; then
    hm repo add kedacore https://kedacore.github.io/charts --force-update
  fi
  hm repo update
  # Select ServiceMonitors and PrometheusRules from every namespace, not only the chart's own.
  hm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    --namespace monitoring --create-namespace \
    --version "${KPS_CHART_VERSION}" \
    --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
    --set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false \
    --set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false \
    --wait --timeout 10m
  case "${autoscaler}" in
    keda)
      hm upgrade --install keda kedacore/keda \
        --namespace keda --create-namespace \
        --version "${KEDA_CHART_VERSION}" \
        --wait --timeout 10m
      ;;
    adapter)
      hm upgrade --install prom-adapter prometheus-community/prometheus-adapter \
        --namespace monitoring \
        --version "${ADAPTER_CHART_VERSION}" \
        -f "${repo_root}/observability/prometheus-adapter-values.yaml" \
        --wait --timeout 10m
      ;;
    *) ;;
  esac
fi

kc apply -f "${manifests}"

# The fleet's signing secret (FLEET_SECRET): replicas sign the calls they forward to each other with
# it. Kept if the Secret exists (rotating it restarts every pod at once), generated otherwise; the
# pods wait for it (CreateContainerConfigError) and start once it is there.
if [[ "${dry_run}" == true ]] ||
  ! kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc get secret gpu-media-fleet >/dev/null 2>&1; then
  fleet_secret="$(head -c 32 /dev/urandom | base64)"
  kubectl create secret generic gpu-media-fleet --namespace rtc \
    --from-literal=FLEET_SECRET="${fleet_secret}" \
    --dry-run=client -o yaml >"${work}/gpu-media-fleet.yaml"
  kc apply -f "${work}/gpu-media-fleet.yaml"
fi

# The relay's Secret before its address is known: coturn starts on TURN_SECRET and the peer range;
# ICE_SERVERS (what the service hands to clients) follows once the load balancers have addresses.
ice_secret() {
  kubectl create secret generic gpu-media-ice --namespace rtc \
    --from-literal=ICE_SERVERS="${ice_servers:-[]}" \
    --from-literal=TURN_SECRET="${turn_secret}" \
    --from-literal=TURN_ALLOWED_PEER_RANGE="${peer_range}" \
    --dry-run=client -o yaml >"${work}/gpu-media-ice.yaml"
  kc apply -f "${work}/gpu-media-ice.yaml"
}
if [[ "${webrtc}" == turn ]]; then
  ice_secret
fi

# Exactly one autoscaler: two controllers on one Deployment fight over its replicas.
has_scaledobjects() {
  [[ "${dry_run}" == true ]] ||
    kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} api-resources --api-group=keda.sh -o name 2>/dev/null |
    grep -q '^scaledobjects'
}
if [[ "${autoscaler}" != cpu ]]; then
  kc -n rtc delete horizontalpodautoscaler gpu-media-cpu --ignore-not-found
fi
if [[ "${autoscaler}" != adapter ]]; then
  kc -n rtc delete horizontalpodautoscaler gpu-media-latency --ignore-not-found
fi
if [[ "${autoscaler}" != keda ]] && has_scaledobjects; then
  kc -n rtc delete scaledobjects.keda.sh gpu-media --ignore-not-found
fi
case "${autoscaler}" in
  cpu) kc apply -f "${repo_root}/k8s/hpa-cpu.yaml" ;;
  keda) kc apply -f "${repo_root}/k8s/hpa-keda-latency.yaml" ;;
  adapter) kc apply -f "${repo_root}/k8s/hpa-latency-custom.yaml" ;;
  none) ;;
esac

# The dashboard, for kube-prometheus-stack's Grafana sidecar (label grafana_dashboard=1).
kubectl create configmap gpu-media-dashboard --namespace monitoring \
  --from-file=gpu-media.json="${repo_root}/observability/grafana-dashboard.json" \
  --dry-run=client -o yaml >"${work}/dashboard.yaml"
kubectl label --local -f "${work}/dashboard.yaml" grafana_dashboard=1 -o yaml >"${work}/dashboard-labelled.yaml"
kc apply --server-side --force-conflicts -f "${work}/dashboard-labelled.yaml"

if [[ "${gatekeeper}" == true ]]; then
  # The constraint's kind exists once Gatekeeper has processed the template.
  kc apply -f "${repo_root}/k8s/policy/gatekeeper-sample-constraint.yaml" || true
  kc wait --for condition=established --timeout=120s crd/k8sallowedrepospinned.constraints.gatekeeper.sh
  kc apply -f "${repo_root}/k8s/policy/gatekeeper-sample-constraint.yaml"
fi

if [[ "${demo}" == true ]]; then
  # The in-cluster load generator may reach the pods; the talk starts from one replica.
  kc apply -k "${repo_root}/k8s/load"
  kc -n rtc scale deployment/gpu-media --replicas=1
fi

# ---- demo sizing --------------------------------------------------------------------------------
# The load the demo offers is sized to the pods it runs on: rtc-load plan in the cluster against the
# one warm pod finds the knee (the most that pod serves within the p95 SLO), the peak is a multiple
# of it, and the GPU nodes the peak needs are checked against the project's quota and kept warm.
sizing_summary=""
# A whole number from a JSON document on stdin: node, since Node 20 is what npx rtc-load needs anyway.
json_number() {
  node -e 'let t = ""; process.stdin.on("data", (c) => (t += c)).on("end", () => { const v = new Function("r", "return " + process.argv[1])(JSON.parse(t)); process.stdout.write(v === undefined || v === null ? "" : String(v)); });' "$1"
}
size_demo() {
  local knee="" lower="" max_rate="${DEMO_PLAN_MAX_RATE:-200}" steps="${DEMO_PLAN_STEPS:-6}" step_seconds="${DEMO_PLAN_STEP_SECONDS:-10}"
  local peak pods attempt report pod_ip
  if ! [[ "${max_rate}" =~ ^[1-9][0-9]*$ && "${steps}" =~ ^[1-9][0-9]*$ && "${step_seconds}" =~ ^[1-9][0-9]*$ ]]; then
    echo "DEMO_PLAN_MAX_RATE, DEMO_PLAN_STEPS and DEMO_PLAN_STEP_SECONDS must be whole numbers" >&2
    exit 2
  fi
  if [[ -n "${demo_rate}" ]]; then
    peak="${demo_rate}"
    sizing_summary="Demo peak: ${peak} req/s (--demo-rate; not sized)."
  elif [[ "${dry_run}" == true ]]; then
    # What would run: the planner's Job against the one warm pod.
    RTC_LOAD_IN_CLUSTER=1 RTC_LOAD_DRY_RUN=1 RTC_LOAD_IMAGE="${RTC_LOAD_IMAGE:-POD_IMAGE}" \
      run_rtc_load plan "http://POD_IP:8080/process?pixels=1920x1080&iters=8" --method POST --max-rate "${max_rate}" \
      --steps "${steps}" --step-duration "${step_seconds}s" --repeats 2 --json --progress-interval 10s
    peak="KNEE_TIMES_${demo_multiple}"
    sizing_summary="Demo peak: ${demo_multiple} x the knee the planner finds (dry run)."
  else
    pod_ip="$(kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc get pods -l app.kubernetes.io/name=gpu-media \
      --field-selector=status.phase=Running -o jsonpath='{.items[0].status.podIP}')"
    if [[ -z "${pod_ip}" ]]; then
      echo "demo sizing: no running gpu-media pod to measure; pass --demo-rate" >&2
      exit 1
    fi
    echo "Sizing the demo: rtc-load plan against one pod (${pod_ip}), about $((2 * (steps + 1) * step_seconds)) s a ramp"
    for attempt in 1 2 3; do
      report="$(RTC_LOAD_IN_CLUSTER=1 run_rtc_load plan "http://${pod_ip}:8080/process?pixels=1920x1080&iters=8" --method POST \
        --max-rate "${max_rate}" --steps "${steps}" --step-duration "${step_seconds}s" --repeats 2 --json --progress-interval 10s |
        tee /dev/stderr | grep '^{' | tail -n 1)" || true
      knee="$(json_number 'Math.floor(r.podCapacityRps)' <<<"${report:-null}" 2>/dev/null || true)"
      lower="$(json_number 'r.kneeIsLowerBound' <<<"${report:-null}" 2>/dev/null || true)"
      [[ "${lower}" == true && "${attempt}" -lt 3 ]] || break
      echo "No knee up to ${max_rate} req/s: the pod does more; again up to $((max_rate * 2)) req/s"
      max_rate=$((max_rate * 2))
    done
    if ! [[ "${knee}" =~ ^[1-9][0-9]*$ ]]; then
      echo "demo sizing: the planner found no rate the pod serves within the SLO (kubectl -n rtc logs -l app.kubernetes.io/name=rtc-load); pass --demo-rate" >&2
      exit 1
    fi
    peak="$(node -e 'process.stdout.write(String(Math.ceil(Number(process.argv[1]) * Number(process.argv[2]))))' "${knee}" "${demo_multiple}")"
    sizing_summary="Demo peak: ${peak} req/s = ${demo_multiple} x one pod's knee, ${knee} req/s."
    if [[ "${lower}" == true ]]; then
      sizing_summary="${sizing_summary} (No knee up to ${max_rate} req/s: one pod does at least that; raise DEMO_PLAN_MAX_RATE.)"
    fi
  fi
  # The pods at the peak: the planner's headroom (80% of the knee), as the HPA settles there.
  if [[ "${peak}" =~ ^[0-9]+$ && "${knee:-}" =~ ^[1-9][0-9]*$ ]]; then
    pods="$(node -e 'process.stdout.write(String(Math.ceil(Number(process.argv[1]) / (0.8 * Number(process.argv[2])))))' "${peak}" "${knee}")"
  else
    # No knee measured (--demo-rate, a dry run): the multiple's pods at 80% each, as if measured.
    pods="$(node -e 'process.stdout.write(String(Math.ceil(Number(process.argv[1]) / 0.8)))' "${demo_multiple}")"
  fi
  kubectl create configmap rtc-demo --namespace rtc \
    --from-literal=peak-rate="${peak}" --from-literal=knee-rps="${knee:-}" --from-literal=pods-at-peak="${pods}" \
    --dry-run=client -o yaml >"${work}/rtc-demo.yaml"
  kc apply -f "${work}/rtc-demo.yaml"
  sizing_summary="${sizing_summary}
About ${pods} pods at the peak (one GPU each)."

  # The demo shows scale-down too: 2 minutes of lower demand, then one pod a minute (the drain's
  # pace: each removed pod may drain calls for a minute). k8s/hpa-keda-latency.yaml keeps 5 minutes
  # and one pod per 2 minutes for production.
  if [[ "${autoscaler}" == keda ]]; then
    kc -n rtc patch scaledobjects.keda.sh gpu-media --type merge \
      -p '{"spec":{"advanced":{"horizontalPodAutoscalerConfig":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":120,"selectPolicy":"Min","policies":[{"type":"Pods","value":1,"periodSeconds":60}]}}}}}}'
  fi

  [[ "${overlay}" == gpu ]] || return 0
  # GPUs: the peak's pods plus one for a rollout's surge, against what the project may still have.
  local gpus=$((pods + 1)) available=""
  available="$(gpu_quota_left)"
  if [[ -n "${available}" ]] && ((available < gpus - 1)); then
    echo "warning: the peak needs ${gpus} GPUs (${pods} pods and one spare) and the project's quota leaves ${available} more beyond those in use:" >&2
    echo "  the HPA will ask for pods that stay Pending. Request more quota (IAM & Admin > Quotas, ${quota_metric:-GPUs} in ${quota_region:-the region})" >&2
    echo "  or lower the peak (--demo-peak-multiple)." >&2
    sizing_summary="${sizing_summary}
GPU quota: ${available} more available, the peak needs up to ${gpus}: NOT ENOUGH (see the warning above)."
  elif [[ -n "${available}" ]]; then
    sizing_summary="${sizing_summary}
GPU quota: ${available} more available, the peak needs up to ${gpus}."
  fi
  if [[ "${prewarm}" == true ]]; then
    # One placeholder per pod beyond the first, and one for a rollout's surge: nodes up, driver and
    # image ready. gpu-media's pods preempt them at once; a preempted one is not recreated.
    local pod_image i
    pod_image="$(kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc get deployment gpu-media -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)"
    sed "s#^\\( *image: \\)ghcr.io/rtc-scale/gpu-media:.*\$#\\1${pod_image:-ghcr.io/rtc-scale/gpu-media:0.1.0-cuda}#" \
      "${repo_root}/k8s/load/gpu-prewarm.yaml" >"${work}/gpu-prewarm-template.yaml"
    kc -n rtc delete pods -l app.kubernetes.io/name=gpu-prewarm --ignore-not-found
    for ((i = 1; i <= pods; i++)); do
      sed "s/^  name: gpu-prewarm\$/  name: gpu-prewarm-${i}/" "${work}/gpu-prewarm-template.yaml"
      echo "---"
    done >"${work}/gpu-prewarm.yaml"
    kc apply -f "${work}/gpu-prewarm.yaml"
    sizing_summary="${sizing_summary}
Pre-warming ${pods} GPU nodes (kubectl -n rtc get pods -l app.kubernetes.io/name=gpu-prewarm): a new GPU node takes
about 5-8 minutes (node, driver, image); start the talk once they run, and new pods start in about 30 s."
  else
    sizing_summary="${sizing_summary}
No pre-warm (--no-prewarm): each new pod waits for a new GPU node, about 5-8 minutes (node, driver,
image), so p95 stays over the SLO that long during the ramp."
  fi
}

# What the GKE project may still use of the GPU the pool has (regional quota minus usage; the
# global GPUS_ALL_REGIONS too), from the GPU nodes' providerID; empty when that cannot be known
# (not GKE, no gcloud, no GPU node yet).
quota_metric=""
quota_region=""
gpu_quota_left() {
  [[ "${dry_run}" == false ]] && command -v gcloud >/dev/null 2>&1 || return 0
  local node provider accelerator project zone quotas
  node="$(kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} get nodes -l cloud.google.com/gke-accelerator \
    -o jsonpath='{.items[0].spec.providerID} {.items[0].metadata.labels.cloud\.google\.com/gke-accelerator}' 2>/dev/null || true)"
  provider="${node%% *}"
  accelerator="${node#* }"
  [[ "${provider}" =~ ^gce://([^/]+)/([^/]+)/ ]] || return 0
  project="${BASH_REMATCH[1]}"
  zone="${BASH_REMATCH[2]}"
  quota_region="${zone%-*}"
  # nvidia-l4 -> NVIDIA_L4_GPUS, nvidia-tesla-t4 -> NVIDIA_T4_GPUS
  quota_metric="$(tr '[:lower:]-' '[:upper:]_' <<<"${accelerator}" | sed 's/_TESLA//')_GPUS"
  quotas="$(gcloud compute regions describe "${quota_region}" --project "${project}" --format=json 2>/dev/null || true)"
  [[ -n "${quotas}" ]] || return 0
  json_number "(() => { const q = (r.quotas || []).find((x) => x.metric === '${quota_metric}'); return q ? Math.floor(q.limit - q.usage) : undefined; })()" <<<"${quotas}"
}

# The relay's addresses, last: a load balancer can take minutes, and everything else is in place
# by now. One Service per protocol (turn-udp, turn-tcp): a mixed-protocol one gets no address on
# most GKE clusters.
TURN_WAIT_SECONDS="${TURN_WAIT_SECONDS:-300}"
if ! [[ "${TURN_WAIT_SECONDS}" =~ ^[0-9]+$ ]]; then
  echo "TURN_WAIT_SECONDS must be a whole number of seconds" >&2
  exit 2
fi
turn_missing=false
lb_address() {
  kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc get service "$1" \
    -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true
}
if [[ "${webrtc}" == turn ]]; then
  udp_host="${turn_host}"
  tcp_host="${turn_tcp_host:-${turn_host}}"
  if [[ "${dry_run}" == true ]]; then
    udp_host="${udp_host:-TURN_UDP_LOAD_BALANCER_ADDRESS}"
    tcp_host="${tcp_host:-TURN_TCP_LOAD_BALANCER_ADDRESS}"
  elif [[ -z "${udp_host}" || -z "${tcp_host}" ]]; then
    echo "waiting for the turn-udp and turn-tcp load balancer addresses (up to ${TURN_WAIT_SECONDS} s, TURN_WAIT_SECONDS)"
    deadline=$((SECONDS + TURN_WAIT_SECONDS))
    while :; do
      [[ -n "${udp_host}" ]] || udp_host="$(lb_address turn-udp)"
      [[ -n "${tcp_host}" ]] || tcp_host="$(lb_address turn-tcp)"
      [[ -n "${udp_host}" && -n "${tcp_host}" ]] && break
      ((SECONDS < deadline)) || break
      sleep 5
    done
  fi
  if [[ -n "${udp_host}" && -n "${tcp_host}" ]]; then
    # No credentials here: the service mints one per answer from TURN_SECRET.
    ice_servers="[{\"urls\":[\"turn:${udp_host}:3478?transport=udp\",\"turn:${tcp_host}:3478?transport=tcp\"]}]"
    ice_secret
    # Environment from a Secret is read at start-up.
    kc -n rtc rollout restart deployment/turn deployment/gpu-media
  else
    turn_missing=true
    echo "warning: no load balancer address for the relay after ${TURN_WAIT_SECONDS} s (kubectl -n rtc describe service turn-udp turn-tcp);" >&2
    echo "  everything else is deployed; WebRTC from outside the cluster needs the relay: run this again with" >&2
    echo "  --turn-host ADDRESS (and --turn-tcp-host), or with a larger TURN_WAIT_SECONDS" >&2
  fi
fi

if [[ "${dry_run}" == false ]]; then
  kubectl ${kubectl_args[@]+"${kubectl_args[@]}"} -n rtc rollout status deployment/gpu-media --timeout=15m
fi

if [[ "${demo}" == true ]]; then
  size_demo
  cat <<NEXT

Demo deployed: overlay ${overlay}, KEDA p95 autoscaling (${autoscaler}), WebRTC ${webrtc}, one replica.
${sizing_summary}
Next, each in its own terminal:
  kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80    # dashboard "rtc-scale / gpu-media"
  kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090:9090
  kubectl -n rtc get hpa -w                             # one resource type per watch
  kubectl -n rtc get pods -l app.kubernetes.io/name=gpu-media -w
  kubectl proxy --port 8001                             # the demo page: http://localhost:8001/api/v1/namespaces/rtc/services/gpu-media:http/proxy/
  scripts/demo_load_gen.sh demo --in-cluster          # ramp to the sized peak, hold, ramp down, from inside the cluster
After the talk: kubectl -n rtc delete pods -l app.kubernetes.io/name=gpu-prewarm   # the warm GPU nodes go
NEXT
  [[ "${turn_missing}" == false ]] || exit 1
  exit 0
fi

cat <<NEXT

Deployed overlay ${overlay} (webrtc: ${webrtc}, autoscaler: ${autoscaler}).
  kubectl -n rtc get pods,svc,hpa
  kubectl -n rtc port-forward svc/gpu-media 8080:80
  curl -s localhost:8080/healthz
  kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80   # dashboard "rtc-scale / gpu-media"
NEXT
[[ "${turn_missing}" == false ]] || exit 1
