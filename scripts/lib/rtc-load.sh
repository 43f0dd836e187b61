# shellcheck shell=bash
# Sourced by the load scripts: runs rtc-load from this checkout. Prefers the built CLI, then the
# TypeScript sources in a development checkout, then an installed rtc-load. With
# RTC_LOAD_IN_CLUSTER=1 it runs rtc-load as a Kubernetes Job in namespace rtc instead, with the
# image gpu-media runs (it ships rtc-load), so the load enters through the Service as real
# clients' would and reaches every pod.
# With RTC_LOAD_DRY_RUN=1 it prints what it would run instead: the Job's manifest, or the
# rtc-load command line ("+ rtc-load ARGS", shell-quoted).
# Needs ROOT (the repository root) set by the caller.

run_rtc_load() {
  if [[ "${RTC_LOAD_IN_CLUSTER:-0}" == "1" ]]; then
    run_rtc_load_job "$@"
  elif [[ "${RTC_LOAD_DRY_RUN:-0}" == "1" ]]; then
    printf '+ rtc-load'
    printf ' %q' "$@"
    printf '\n'
  elif [[ -f "$ROOT/dist/tools/rtc-load/main.js" ]]; then
    node "$ROOT/bin/rtc-load.js" "$@"
  elif [[ -f "$ROOT/tools/rtc-load/main.ts" && -f "$ROOT/node_modules/tsx/package.json" ]]; then
    node --import "$ROOT/node_modules/tsx/dist/loader.mjs" "$ROOT/tools/rtc-load/main.ts" "$@"
  elif command -v rtc-load >/dev/null 2>&1; then
    rtc-load "$@"
  else
    echo "rtc-load not found: run 'npm ci && npm run build' in $ROOT" >&2
    return 1
  fi
}

# The Job manifest for `rtc-load ARGS...` (printed, for kubectl apply -f - or a dry run).
rtc_load_job_manifest() {
  local name="$1" image="$2"
  shift 2
  cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}
  namespace: rtc
  labels:
    app.kubernetes.io/name: rtc-load
    app.kubernetes.io/component: load
    app.kubernetes.io/part-of: rtc-scale
spec:
  backoffLimit: 0
  ttlSecondsAfterFinished: 600
  template:
    metadata:
      labels:
        app.kubernetes.io/name: rtc-load
        app.kubernetes.io/component: load
        app.kubernetes.io/part-of: rtc-scale
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: rtc-load
          image: ${image}
          command: ["node", "dist/tools/rtc-load/main.js"]
          args:
YAML
  local arg
  for arg in "$@"; do
    # A YAML single-quoted scalar: everything literal, a quote doubled.
    printf "            - '%s'\n" "${arg//\'/\'\'}"
  done
  cat <<YAML
          resources:
            requests: { cpu: 500m, memory: 256Mi }
            limits: { memory: 512Mi }
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: [ALL] }
YAML
}

run_rtc_load_job() {
  local image="${RTC_LOAD_IMAGE:-}"
  if [[ -z "$image" ]]; then
    image="$(kubectl -n rtc get deployment gpu-media -o jsonpath='{.spec.template.spec.containers[0].image}')" || {
      echo "cannot read gpu-media's image (is it deployed?); set RTC_LOAD_IMAGE" >&2
      return 1
    }
  fi
  local name
  name="rtc-load-$(date +%s)"
  if [[ "${RTC_LOAD_DRY_RUN:-0}" == "1" ]]; then
    rtc_load_job_manifest "$name" "$image" "$@"
    return 0
  fi
  kubectl apply -k "$ROOT/k8s/load" >/dev/null
  rtc_load_job_manifest "$name" "$image" "$@" | kubectl apply -f - >/dev/null
  echo "Job rtc/${name} (image ${image}); Ctrl-C stops following, 'kubectl -n rtc delete job ${name}' stops the load"
  # Follow the log once the pod runs (pulling the image can take a while). rtc-load prints a
  # progress line every few seconds there (a Job's log is no terminal), then its report.
  for _ in $(seq 60); do
    [[ -n "$(kubectl -n rtc get pods -l "job-name=${name}" -o name 2>/dev/null)" ]] && break
    sleep 1
  done
  # --pod-running-timeout: kubectl waits for the container to start instead of failing at once.
  if ! kubectl -n rtc logs -f "job/${name}" --pod-running-timeout=10m; then
    echo "could not follow the Job's log: kubectl -n rtc describe job ${name}" >&2
    return 1
  fi
  # The run's own exit status (1 with --fail-on-errors and failures), once the Job has settled.
  local outcome=""
  for _ in $(seq 60); do
    outcome="$(kubectl -n rtc get "job/${name}" -o jsonpath='{.status.succeeded}{.status.failed}' 2>/dev/null || true)"
    [[ -n "${outcome}" ]] && break
    sleep 1
  done
  [[ "$(kubectl -n rtc get "job/${name}" -o jsonpath='{.status.succeeded}' 2>/dev/null || true)" == 1 ]]
}
