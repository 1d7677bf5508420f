# Sourced by deploy.sh, gate.sh and rollback.sh (not run on its own).
# Picks the Compose CLI once: the `docker compose` plugin that cloud-init installs, or the
# standalone `docker-compose` 1.x where the plugin is missing. Every call runs in the app
# directory so compose.yaml and .env are found the same way by both.

APP_DIR="${CANNY_APP_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

if docker compose version >/dev/null 2>&1; then
  COMPOSE_CLI=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE_CLI=(docker-compose)
else
  echo "canny: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 127
fi

compose() {
  (cd "$APP_DIR" && "${COMPOSE_CLI[@]}" "$@")
}

# `up --wait` exists only in the plugin; with docker-compose 1.x the readiness gate waits.
compose_up() {
  if [ "${COMPOSE_CLI[0]}" = docker ]; then
    compose up -d --wait --remove-orphans
  else
    compose up -d --remove-orphans
  fi
}

# Replace or add KEY=VALUE in the app's .env (what compose reads for ${VAR} interpolation).
# The file holds the results bucket's key: only its owner (the deploy user) may read it,
# from the first byte on (umask before the temporary file exists, not a chmod after).
set_env_value() {
  local key="$1" value="$2" env_file="$APP_DIR/.env"
  (
    umask 077
    touch "$env_file"
    grep -v "^${key}=" "$env_file" >"$env_file.tmp" || true
    printf '%s=%s\n' "$key" "$value" >>"$env_file.tmp"
    chmod 600 "$env_file.tmp"
    mv "$env_file.tmp" "$env_file"
  )
}
