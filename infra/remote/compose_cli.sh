# Sourced by deploy.sh, gate.sh, rollback.sh and the steps that write .env (not run on its own).
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

# Replace or add KEY=VALUE in the app's .env (set_env_value), or take KEY out of it
# (unset_env_value: a step's delete). .env is what compose reads for ${VAR} interpolation.
# The file holds the results bucket's key: only its owner (the deploy user) may read it,
# from the first byte on (umask before the temporary file exists, not a chmod after).
# Pulumi runs the steps that write .env (storage credentials, fleet targets, Alertmanager's
# secret) at once: each read-modify-write holds an exclusive lock on .env.lock, and writes a
# temporary file of its own (mktemp), so no step's key is lost to another's rename.
ENV_LOCK_TIMEOUT="${CANNY_ENV_LOCK_TIMEOUT:-60}"
edit_env() {
  local key="$1" env_file="$APP_DIR/.env" temporary
  (
    umask 077
    exec 9>>"$env_file.lock"
    if ! flock -w "$ENV_LOCK_TIMEOUT" 9; then
      echo "canny: $env_file.lock stayed locked for ${ENV_LOCK_TIMEOUT}s: $key not changed" >&2
      exit 75
    fi
    touch "$env_file"
    temporary="$(mktemp "$env_file.XXXXXX")"
    grep -v "^${key}=" "$env_file" >"$temporary" || true
    if [ "$#" -eq 2 ]; then
      printf '%s=%s\n' "$key" "$2" >>"$temporary"
    fi
    mv "$temporary" "$env_file"
  )
}

set_env_value() {
  edit_env "$1" "$2"
}

unset_env_value() {
  local key
  for key in "$@"; do
    edit_env "$key"
  done
}

# Pin the app images to digests in .env (app/compose.yaml appends each pin, `@<digest>`, to
# its image), or, given none, take the pins out so compose pulls by tag: a release deployed
# without digests must never run the previous release's pinned images.
pin_images() {
  if [ -n "$1" ]; then
    set_env_value BACKEND_PIN "@$1"
    set_env_value GATEWAY_PIN "@$2"
  else
    unset_env_value BACKEND_PIN GATEWAY_PIN
  fi
}

# A file a deploy step writes for a compose service to mount: FOLDER/FILE, with FOLDER named
# in .env under KEY (compose mounts ${KEY}). The new content goes to FILE.tmp in the same
# folder first (mounted_file_prepare, then the step writes and checks it) and replaces FILE
# by a rename (mounted_file_publish), so the service never reads half a file. Files are
# world-readable (umask 022): the containers run as `nobody`; MODE is the folder's.
mounted_file_prepare() {
  local folder="$1" mode="$2"
  mkdir -p "$folder"
  chmod "$mode" "$folder"
  umask 0022
}

mounted_file_publish() {
  local folder="$1" file="$2" key="$3"
  mv "$folder/$file.tmp" "$folder/$file"
  set_env_value "$key" "$folder"
}

# The step's delete: the file, its temporary, the folder if empty, and the .env key.
mounted_file_forget() {
  local folder="$1" file="$2" key="$3"
  rm -f "$folder/$file" "$folder/$file.tmp"
  rmdir "$folder" 2>/dev/null || true
  unset_env_value "$key"
}
