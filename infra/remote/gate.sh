#!/usr/bin/env bash
# Readiness gate: every container of the app is running and healthy, and a real
# request through the gateway reaches a backend. Retries until a deadline; on failure
# prints `compose ps` and recent logs, and exits 1.
#
#   gate.sh
#
# env:  CANNY_GATE_URL        default http://127.0.0.1/api/images?limit=1 (gateway -> backend)
#       CANNY_GATE_TIMEOUT    seconds before giving up, default 120
#       CANNY_GATE_INTERVAL   seconds between checks, default 3
#       CANNY_GATE_REJOIN_SECONDS  seconds to wait after passing, default 0: behind a load
#                             balancer, how long its health check takes to count the droplet
#                             healthy again (infra/load_balancer.py, HealthCheck), so the next
#                             droplet of a rolling deploy restarts only once this one serves
#       CANNY_APP_DIR         the bundle folder (default: this script's parent folder)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

url="${CANNY_GATE_URL:-http://127.0.0.1/api/images?limit=1}"
timeout="${CANNY_GATE_TIMEOUT:-120}"
interval="${CANNY_GATE_INTERVAL:-3}"
rejoin="${CANNY_GATE_REJOIN_SECONDS:-0}"
if ! [[ "$rejoin" =~ ^[0-9]+$ ]]; then
  echo "canny: CANNY_GATE_REJOIN_SECONDS must be a whole number of seconds, not '$rejoin'" >&2
  exit 64
fi

# Prints one line per container that is not running and healthy (or running without a
# healthcheck); succeeds only when there is none. `ps -a` so that a crashed container
# counts, and not `config --services`: docker-compose 1.x lists inactive profiles there.
containers_not_ready() {
  local ids service state health problems=0
  ids="$(compose ps -a -q)"
  if [ -z "$ids" ]; then
    echo "no containers: compose has not brought the app up"
    return 1
  fi
  # $ids unquoted on purpose: one argument per container id.
  while read -r service state health; do
    if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
      echo "service $service: $state $health"
      problems=1
    fi
  done < <(docker inspect --format \
    '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
    $ids)
  return "$problems"
}

deadline=$((SECONDS + timeout))
while :; do
  if report="$(containers_not_ready)"; then
    if curl -fsS -o /dev/null --max-time 5 "$url" 2>/dev/null; then
      echo "canny: ready: every service healthy and $url answered"
      if ((rejoin > 0)); then
        echo "canny: waiting ${rejoin}s for the load balancer to count this droplet healthy"
        sleep "$rejoin"
      fi
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
