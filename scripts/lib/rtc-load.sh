# shellcheck shell=bash
# Sourced by the load scripts: runs rtc-load from this checkout. Prefers the built CLI, then the
# TypeScript sources in a development checkout, then an installed rtc-load.
# Needs ROOT (the repository root) set by the caller.

run_rtc_load() {
  if [[ -f "$ROOT/dist/tools/rtc-load/main.js" ]]; then
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
