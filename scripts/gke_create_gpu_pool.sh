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

Driver: the GPU image's PTX (ISA 8.0) needs an NVIDIA driver R525 or newer (CUDA 12.0+).
"latest" installs the newest driver the node's GKE version supports (R535 or newer on every
current GKE version); docs/kubernetes.md, "CUDA and the driver".

Options:
  --create-cluster   create CLUSTER first (VPC-native, Dataplane V2 so NetworkPolicies are
                     enforced, one small autoscaling CPU pool) unless it exists
  --dry-run          print the gcloud commands instead of running them
  -h, --help         show this help
USAGE
}

create_cluster=false
dry_run=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --create-cluster) create_cluster=true ;;
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
