#!/usr/bin/env bash
# Closed-loop load against the /process endpoint: REQUESTS requests in total, CONCURRENCY
# at a time (what the seed did with xargs + curl), measured by rtc-load.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/load_gen.sh [URL] [CONCURRENCY] [REQUESTS]

  URL          target (default http://localhost:8080/process?pixels=1280x720&iters=5)
  CONCURRENCY  requests in flight at once (default 20)
  REQUESTS     total requests (default 200)

Prints rtc-load's summary: throughput, latency percentiles (p50 ... p99.9),
status codes and transport errors. For open-loop runs, ramps, JSON or an HTML
report, call rtc-load directly (npx rtc-load --help).

Example:
  scripts/load_gen.sh "http://localhost:8080/process?pixels=1920x1080&iters=10" 40 800
USAGE
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  usage
  exit 0
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
run_rtc_load "$URL" --method POST --concurrency "$CONCURRENCY" --requests "$REQUESTS"
