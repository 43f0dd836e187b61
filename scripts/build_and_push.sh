#!/usr/bin/env bash
# Builds and pushes the service's images:
#   CPU  REGISTRY/IMAGE:TAG        from Dockerfile      (linux/amd64 and linux/arm64)
#   GPU  REGISTRY/IMAGE:TAG-cuda   from Dockerfile.gpu  (linux/amd64)
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/build_and_push.sh [--cpu-only | --gpu-only] [--no-push] [--dry-run]

Builds the CPU image from Dockerfile and the GPU image from Dockerfile.gpu, and pushes both.

Environment (as in the seed):
  REGISTRY   registry and path, e.g. gcr.io/YOUR_PROJECT   (default: ghcr.io/rtc-scale)
  IMAGE      image name                                     (default: gpu-media)
  TAG        image tag; never "latest"                      (default: version in package.json)
  PLATFORMS  CPU image platforms  (default: linux/amd64,linux/arm64; the GPU image is amd64 only)

Options:
  --cpu-only   build only REGISTRY/IMAGE:TAG
  --gpu-only   build only REGISTRY/IMAGE:TAG-cuda
  --no-push    build into the local image store instead of pushing (current platform only)
  --dry-run    print the docker commands instead of running them
  -h, --help   show this help

The Kubernetes manifests default to ghcr.io/rtc-scale/gpu-media:0.1.0 (CPU) and :0.1.0-cuda
(GPU). Deploy what this built with scripts/deploy.sh --image REGISTRY/IMAGE --tag TAG (the GPU
overlay runs TAG-cuda); with Gatekeeper, add the registry to the repos list in
k8s/policy/gatekeeper-sample-constraint.yaml.
USAGE
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

default_tag() {
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "${repo_root}/package.json" | head -n 1
}

build_cpu=true
build_gpu=true
push=true
dry_run=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-only) build_gpu=false ;;
    --gpu-only) build_cpu=false ;;
    --no-push) push=false ;;
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

if [[ "${build_cpu}" == false && "${build_gpu}" == false ]]; then
  echo "--cpu-only and --gpu-only exclude each other" >&2
  exit 2
fi

REGISTRY="${REGISTRY:-ghcr.io/rtc-scale}"
IMAGE="${IMAGE:-gpu-media}"
TAG="${TAG:-$(default_tag)}"
PLATFORMS="${PLATFORMS:-linux/amd64,linux/arm64}"

if [[ -z "${TAG}" ]]; then
  echo "TAG is empty and package.json has no version" >&2
  exit 2
fi
if [[ "${TAG}" == "latest" ]]; then
  echo "refusing TAG=latest: pin a version so every node runs the same image" >&2
  exit 2
fi

# shellcheck source=scripts/lib/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/run.sh"

revision="$(git -C "${repo_root}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# build <Dockerfile> <image:tag> <platforms>
build() {
  local dockerfile="$1" ref="$2" platforms="$3"
  local output=(--push)
  if [[ "${push}" == false ]]; then
    # --load takes a single platform: the builder's own.
    output=(--load)
    platforms=""
  fi
  local platform_args=()
  if [[ -n "${platforms}" ]]; then
    platform_args=(--platform "${platforms}")
  fi
  run docker buildx build \
    --file "${repo_root}/${dockerfile}" \
    --tag "${ref}" \
    ${platform_args[@]+"${platform_args[@]}"} \
    --label "org.opencontainers.image.version=${TAG}" \
    --label "org.opencontainers.image.revision=${revision}" \
    --label "org.opencontainers.image.created=${created}" \
    "${output[@]}" \
    "${repo_root}"
}

if [[ "${build_cpu}" == true ]]; then
  build Dockerfile "${REGISTRY}/${IMAGE}:${TAG}" "${PLATFORMS}"
fi
if [[ "${build_gpu}" == true ]]; then
  build Dockerfile.gpu "${REGISTRY}/${IMAGE}:${TAG}-cuda" linux/amd64
fi

if [[ "${push}" == true && "${dry_run}" == false ]]; then
  echo "pushed:"
  if [[ "${build_cpu}" == true ]]; then echo "  ${REGISTRY}/${IMAGE}:${TAG}"; fi
  if [[ "${build_gpu}" == true ]]; then echo "  ${REGISTRY}/${IMAGE}:${TAG}-cuda"; fi
fi
