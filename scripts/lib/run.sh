# shellcheck shell=bash
# Sourced by the deployment scripts: `run CMD ARGS…` executes the command, or with dry_run=true
# (set by the caller's --dry-run) prints it, shell-quoted, prefixed with "+".

run() {
  if [[ "${dry_run:-false}" == true ]]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
