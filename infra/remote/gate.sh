#!/usr/bin/env bash
# Readiness gate: every compose service of the app is running and healthy, and a real
# request through the gateway reaches a backend. Retries until a deadline; on failure
# prints `compose ps` and recent logs, and exits 1.
#
#   gate.sh
#
# env:  CANNY_GATE_URL        default http://127.0.0.1/api/images?limit=1 (gateway -> backend)
#       CANNY_GATE_TIMEOUT    seconds before giving up, default 120
#       CANNY_GATE_INTERVAL   seconds between checks, default 3
#       CANNY_APP_DIR         the bundle folder (default: this script's parent folder)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

url="${CANNY_GATE_URL:-http://127.0.0.1/api/images?limit=1}"
timeout="${CANNY_GATE_TIMEOUT:-120}"
interval="${CANNY_GATE_INTERVAL:-3}"

# Prints one line per service that is not ready; succeeds only when there is none.
services_not_ready() {
  local service ids state problems=0
  for service in $(compose config --services); do
    ids="$(compose ps -q "$service")"
    if [ -z "$ids" ]; then
      echo "service $service: no container"
      problems=1
      continue
    fi
    # $ids unquoted on purpose: one argument per container id.
    while read -r state; do
      case "$state" in
        "running healthy" | "running none") ;;
        *) echo "service $service: $state"; problems=1 ;;
      esac
    done < <(docker inspect --format \
      '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids)
  done
  return "$problems"
}

deadline=$((SECONDS + timeout))
while :; do
  if report="$(services_not_ready)"; then
    if curl -fsS -o /dev/null --max-time 5 "$url" 2>/dev/null; then
      echo "canny: ready: every service healthy and $url answered"
      exit 0
    fi
    report="gateway: $url did not answer with success"
  fi
  if ((SECONDS >= deadline)); then
    echo "canny: NOT READY after ${timeout}s:" >&2
    echo "$report" >&2
    echo "--- compose ps" >&2
    compose ps >&2 || true
    echo "--- compose logs (last 50 lines per service)" >&2
    compose logs --no-color --tail 50 >&2 || true
    exit 1
  fi
  sleep "$interval"
done
