#!/usr/bin/env bash
# Creates an autoscaling GPU node pool on GKE, with Google's NVIDIA driver installation, for
# k8s/overlays/gpu. Optionally creates the cluster first.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/gke_create_gpu_pool.sh [--create-cluster] [--dry-run]

Creates a GPU node pool that scales between MIN_NODES and MAX_NODES, with GKE installing the
NVIDIA driver (gpu-driver-version). GKE taints GPU nodes nvidia.com/gpu=present:NoSchedule and
labels them cloud.google.com/gke-accelerator; the GPU Deployment tolerates and selects those.

Environment:
  PROJECT_ID          GCP project                  (default: gcloud config get-value project)
  CLUSTER             cluster name                 (default: rtc-scale)
  LOCATION            region or zone               (default: us-central1)
  NODE_LOCATIONS      zones for the pool, comma-separated (default: the cluster's)
  POOL                node pool name               (default: gpu-pool)
  MACHINE_TYPE        (default: g2-standard-8, with one NVIDIA L4)
  GPU_TYPE            (default: nvidia-l4)
  GPU_COUNT           GPUs per node                (default: 1)
  GPU_DRIVER_VERSION  latest | default | disabled  (default: latest)
  MIN_NODES           per zone                     (default: 0)
  MAX_NODES           per zone                     (default: 4)
  SPOT                true for Spot VMs            (default: false)

GPU quota: before anything is created, the pool's most GPUs (MAX_NODES x GPU_COUNT x its zones:
NODE_LOCATIONS, else 3 for a region, 1 for a zone) are checked against the project's quota for the
GPU in the region (e.g. NVIDIA_L4_GPUS; Spot VMs: PREEMPTIBLE_NVIDIA_L4_GPUS) and against
GPUS_ALL_REGIONS. A new project usually has none: the script stops and says what to request
(IAM & Admin > Quotas), unless --skip-quota-check.

Driver: the GPU image's PTX (ISA 8.0) needs an NVIDIA driver R525 or newer (CUDA 12.0+).
"latest" installs the newest driver the node's GKE version supports (R535 or newer on every
current GKE version); docs/kubernetes.md, "CUDA and the driver".

Options:
  --create-cluster   create CLUSTER first (VPC-native, Dataplane V2 so NetworkPolicies are
                     enforced, one small autoscaling CPU pool) unless it exists
  --skip-quota-check create the pool whatever the quota says (nodes beyond it never come up)
  --dry-run          print the gcloud commands instead of running them
  -h, --help         show this help
USAGE
}

create_cluster=false
dry_run=false
quota_check=true
while [[ $# -gt 0 ]]; do
  case "$1" in
    --create-cluster) create_cluster=true ;;
    --dry-run) dry_run=true ;;
    --skip-quota-check) quota_check=false ;;
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

# shellcheck source=scripts/lib/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/run.sh"

if [[ -z "${PROJECT_ID:-}" ]]; then
  if [[ "${dry_run}" == true ]]; then
    PROJECT_ID="YOUR_PROJECT"
  else
    PROJECT_ID="$(gcloud config get-value project 2>/dev/null)"
  fi
fi
if [[ -z "${PROJECT_ID}" ]]; then
  echo "PROJECT_ID is not set and gcloud has no default project" >&2
  exit 2
fi

CLUSTER="${CLUSTER:-rtc-scale}"
LOCATION="${LOCATION:-us-central1}"
NODE_LOCATIONS="${NODE_LOCATIONS:-}"
POOL="${POOL:-gpu-pool}"
MACHINE_TYPE="${MACHINE_TYPE:-g2-standard-8}"
GPU_TYPE="${GPU_TYPE:-nvidia-l4}"
GPU_COUNT="${GPU_COUNT:-1}"
GPU_DRIVER_VERSION="${GPU_DRIVER_VERSION:-latest}"
MIN_NODES="${MIN_NODES:-0}"
MAX_NODES="${MAX_NODES:-4}"
SPOT="${SPOT:-false}"

case "${GPU_DRIVER_VERSION}" in
  latest | default | disabled) ;;
  *)
    echo "GPU_DRIVER_VERSION must be latest, default or disabled" >&2
    exit 2
    ;;
esac
if ! [[ "${MIN_NODES}" =~ ^[0-9]+$ && "${MAX_NODES}" =~ ^[0-9]+$ && "${GPU_COUNT}" =~ ^[1-9][0-9]*$ ]]; then
  echo "MIN_NODES, MAX_NODES and GPU_COUNT must be whole numbers (GPU_COUNT at least 1)" >&2
  exit 2
fi
if ((MIN_NODES > MAX_NODES)); then
  echo "MIN_NODES (${MIN_NODES}) is above MAX_NODES (${MAX_NODES})" >&2
  exit 2
fi

# The GPUs the pool may hold at most, against the quota the project has for them.
case "${LOCATION}" in
  *-*-[a-z]) zones=1 region="${LOCATION%-*}" ;;
  *) zones=3 region="${LOCATION}" ;;
esac
if [[ -n "${NODE_LOCATIONS}" ]]; then
  IFS=, read -r -a node_zones <<<"${NODE_LOCATIONS}"
  zones=${#node_zones[@]}
fi
gpus_max=$((MAX_NODES * GPU_COUNT * zones))
# nvidia-l4 -> NVIDIA_L4_GPUS, nvidia-tesla-t4 -> NVIDIA_T4_GPUS (Spot: PREEMPTIBLE_…)
quota_metric="$(tr '[:lower:]-' '[:upper:]_' <<<"${GPU_TYPE}" | sed 's/_TESLA//')_GPUS"
[[ "${SPOT}" == true ]] && quota_metric="PREEMPTIBLE_${quota_metric}"
quota_left() {
  # $1: the JSON of a region or of the project; $2: the metric. Empty when the quota is not listed.
  node -e 'let t = ""; process.stdin.on("data", (c) => (t += c)).on("end", () => { const q = (JSON.parse(t).quotas || []).find((x) => x.metric === process.argv[1]); process.stdout.write(q ? String(Math.floor(q.limit - q.usage)) : ""); });' "$2" <<<"$1"
}
if [[ "${quota_check}" == true ]]; then
  if [[ "${dry_run}" == true ]]; then
    echo "# quota check: ${gpus_max} GPUs (MAX_NODES ${MAX_NODES} x GPU_COUNT ${GPU_COUNT} x ${zones} zone(s)) against ${quota_metric} in ${region} and GPUS_ALL_REGIONS"
    run gcloud compute regions describe "${region}" --project "${PROJECT_ID}" --format=json
    run gcloud compute project-info describe --project "${PROJECT_ID}" --format=json
  else
    regional="$(quota_left "$(gcloud compute regions describe "${region}" --project "${PROJECT_ID}" --format=json)" "${quota_metric}")"
    global="$(quota_left "$(gcloud compute project-info describe --project "${PROJECT_ID}" --format=json)" GPUS_ALL_REGIONS)"
    short=""
    [[ -n "${regional}" && "${regional}" -lt "${gpus_max}" ]] && short="${quota_metric} in ${region}: ${regional} left"
    [[ -n "${global}" && "${global}" -lt "${gpus_max}" ]] && short="${short:+${short}; }GPUS_ALL_REGIONS: ${global} left"
    if [[ -n "${short}" ]]; then
      echo "The pool may grow to ${gpus_max} GPUs (MAX_NODES ${MAX_NODES} x GPU_COUNT ${GPU_COUNT} x ${zones} zone(s)), more than the quota allows (${short})." >&2
      echo "Request more (console: IAM & Admin > Quotas, filter ${quota_metric} and GPUS_ALL_REGIONS; approval can take a day)," >&2
      echo "or lower MAX_NODES or NODE_LOCATIONS; --skip-quota-check creates the pool anyway." >&2
      exit 1
    fi
    echo "GPU quota: ${regional:-?} ${quota_metric} left in ${region}, ${global:-?} GPUS_ALL_REGIONS; the pool needs at most ${gpus_max}"
  fi
fi

if [[ "${create_cluster}" == true ]]; then
  if [[ "${dry_run}" == false ]] &&
    gcloud container clusters describe "${CLUSTER}" --project "${PROJECT_ID}" --location "${LOCATION}" >/dev/null 2>&1; then
    echo "cluster ${CLUSTER} exists; adding the pool to it"
  else
    run gcloud container clusters create "${CLUSTER}" \
      --project "${PROJECT_ID}" \
      --location "${LOCATION}" \
      --release-channel regular \
      --enable-ip-alias \
      --enable-dataplane-v2 \
      --workload-pool "${PROJECT_ID}.svc.id.goog" \
      --machine-type e2-standard-4 \
      --num-nodes 1 \
      --enable-autoscaling --min-nodes 1 --max-nodes 3 \
      --shielded-secure-boot --shielded-integrity-monitoring
  fi
fi

pool_args=(
  --project "${PROJECT_ID}"
  --cluster "${CLUSTER}"
  --location "${LOCATION}"
  --machine-type "${MACHINE_TYPE}"
  --accelerator "type=${GPU_TYPE},count=${GPU_COUNT},gpu-driver-version=${GPU_DRIVER_VERSION}"
  --image-type COS_CONTAINERD
  --disk-type pd-balanced
  --disk-size 100
  --num-nodes "${MIN_NODES}"
  --enable-autoscaling
  --min-nodes "${MIN_NODES}"
  --max-nodes "${MAX_NODES}"
  # GPUs are scarce: let the autoscaler take whichever zone has capacity.
  --location-policy ANY
  --enable-autoupgrade
  --enable-autorepair
  --shielded-secure-boot
  --shielded-integrity-monitoring
  --node-labels "rtc-scale/pool=gpu"
)
if [[ -n "${NODE_LOCATIONS}" ]]; then
  pool_args+=(--node-locations "${NODE_LOCATIONS}")
fi
if [[ "${SPOT}" == true ]]; then
  pool_args+=(--spot)
fi

run gcloud container node-pools create "${POOL}" "${pool_args[@]}"
run gcloud container clusters get-credentials "${CLUSTER}" --project "${PROJECT_ID}" --location "${LOCATION}"

# The tag build_and_push.sh gives by default.
version="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../package.json" | head -n 1)"

cat <<NEXT

GPU pool ${POOL} is ready to scale from ${MIN_NODES} to ${MAX_NODES} nodes per zone.
With MIN_NODES=0 the first GPU node appears when a GPU pod is pending (a few minutes).
Check the driver once a node is up:
  kubectl get nodes -l cloud.google.com/gke-accelerator=${GPU_TYPE}
  kubectl -n kube-system logs -l k8s-app=nvidia-driver-installer -c nvidia-driver-installer --tail=20
Then build the images and deploy them (the pods' range is the TURN relay's only peers):
  REGISTRY=${LOCATION}-docker.pkg.dev/${PROJECT_ID}/rtc scripts/build_and_push.sh
  scripts/deploy.sh --demo --image ${LOCATION}-docker.pkg.dev/${PROJECT_ID}/rtc/gpu-media --tag ${version} \\
    --pod-cidr "\$(gcloud container clusters describe ${CLUSTER} --location ${LOCATION} --project ${PROJECT_ID} --format='value(clusterIpv4Cidr)')"
NEXT
