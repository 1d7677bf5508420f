#!/usr/bin/env bash
# The droplet's first boot after cloud-init's own modules: cloud-init's runcmd runs this once,
# as root (infra/cloud_init.py writes it to /usr/local/sbin/canny-boot).
#
# Why a script and not a list of runcmd steps: cloud-init runs runcmd as one `sh` script
# without `set -e`, so a failed step is followed by the next ones and would still reach the
# ready marker. Here every step runs under `set -e`; the ready marker is written only after
# all of them succeeded, and a failure writes the failure marker naming the step instead.
#
# Repository keys: fetched over HTTPS, accepted only when every key in the file is one of the
# repository's pinned set (openpgp_fingerprint.py, no gpg needed: Debian's cloud images have no gpg, see
# canonical/cloud-init#5535), stored armored under /etc/apt/keyrings and named by
# `signed-by`, which apt reads without gpg (sources.list(5): "Signed-By").
#
# env:  CANNY_DEPLOY_USER   the deploy user that owns the app folder
#       CANNY_APP_DIR       the app folder (REMOTE_APP_DIR in infra/bundle.py)
#       CANNY_RESULTS_MOUNT prod only: the results volume's mount point, owned by the backend
#       CANNY_BOOT_ROOT     prefix of every file path it reads or writes (tests: a temp folder)
#       CANNY_APT_UPDATE_PAUSE  seconds between tries of `apt-get update` (default 15)
set -Eeuo pipefail

root="${CANNY_BOOT_ROOT:-}"
state_dir="$root/var/lib/canny"
ready_marker="$state_dir/cloud-init.done"
failure_marker="$state_dir/cloud-init.failed"
keyrings="$root/etc/apt/keyrings"
sources="$root/etc/apt/sources.list.d"
fingerprint_check="$root/usr/local/lib/canny/openpgp_fingerprint.py"
# The backend image runs as this uid (app/backend/Dockerfile) and must own the results.
backend_uid=10001
step=start

on_error() {
  local status=$?
  mkdir -p "$state_dir"
  printf 'canny first boot: step %s failed (exit %s)\n' "$step" "$status" >"$failure_marker"
  echo "canny-boot: step $step failed (exit $status)" >&2
  exit "$status"
}
trap on_error ERR

# name, key URL, pinned fingerprints (comma-separated). When a vendor announces a new key, add
# its fingerprint beside the old one: the key file then holds both during the rotation, and
# both are pinned. Sources of the pinned values:
# docker: https://docs.docker.com/engine/install/debian/ (docker/docs engine/install/
#   debian.md: "9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88"); the key URL is the
#   one those instructions download.
# gitlab-runner: https://docs.gitlab.com/omnibus/update/package_signatures/ (repository
#   metadata signing key "F640 3F65 44A3 8863 DAA0 B6E0 3F01 618A 5131 2F3F", download
#   location https://packages.gitlab.com/gpg.key); the runner repository is signed by it.
repository_keys=(
  "docker https://download.docker.com/linux/debian/gpg 9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
  "gitlab-runner https://packages.gitlab.com/gpg.key F6403F6544A38863DAA0B6E03F01618A51312F3F"
)

# apt's own timers (apt-daily, apt-daily-upgrade, unattended-upgrades) start at first boot and
# may hold dpkg's lock: apt-get waits for it up to DPkg::Lock::Timeout seconds (apt
# apt-pkg/deb/debsystem.cc, debSystem::Lock). That option does not cover `apt-get update`'s
# lock on the package lists, which apt takes without waiting (apt-pkg/acquire.cc,
# pkgAcquire::GetLock), so update is tried again a bounded number of times.
apt_lock_timeout=600
apt_update_attempts=10
apt_update_pause="${CANNY_APT_UPDATE_PAUSE:-15}"

# apt-get COMMAND ARGS..., waiting for dpkg's lock.
apt_get() {
  local command=$1
  shift
  DEBIAN_FRONTEND=noninteractive apt-get "$command" -o DPkg::Lock::Timeout="$apt_lock_timeout" "$@"
}

apt_update() {
  local attempt status=0
  for attempt in $(seq "$apt_update_attempts"); do
    apt_get update && return 0 || status=$?
    echo "canny-boot: apt-get update failed (attempt $attempt of $apt_update_attempts)" >&2
    sleep "$apt_update_pause"
  done
  return "$status"
}

install_repository_key() {
  local name=$1 url=$2 pinned=$3 download
  download="$(mktemp)"
  curl --fail --silent --show-error --location --retry 5 --output "$download" "$url"
  # shellcheck disable=SC2086 # one argument per pinned fingerprint
  python3 "$fingerprint_check" "$download" ${pinned//,/ }
  install -D -m 0644 "$download" "$keyrings/$name.asc"
  rm -f "$download"
}

rm -f "$ready_marker" "$failure_marker"

step=repository-keys
for entry in "${repository_keys[@]}"; do
  # shellcheck disable=SC2086 # three words on purpose
  install_repository_key $entry
done

step=repository-sources
# shellcheck source=/dev/null
codename="$(. "$root/etc/os-release" && echo "$VERSION_CODENAME")"
mkdir -p "$sources"
echo "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian $codename stable" \
  >"$sources/docker.list"
echo "deb [signed-by=/etc/apt/keyrings/gitlab-runner.asc] https://packages.gitlab.com/runner/gitlab-runner/debian/ $codename main" \
  >"$sources/gitlab-runner.list"

step=packages
apt_update
apt_get install -y --no-install-recommends \
  docker-ce docker-ce-cli containerd.io docker-compose-plugin gitlab-runner

step=services
systemctl daemon-reload
systemctl reload ssh
systemctl enable --now docker unattended-upgrades
# After docker, and again whenever docker starts (WantedBy=docker.service): see the unit.
systemctl enable --now canny-metadata-block.service

step=app-folder
install -d -o "$CANNY_DEPLOY_USER" -g "$CANNY_DEPLOY_USER" -m 0750 "$root$CANNY_APP_DIR"

if [ -n "${CANNY_RESULTS_MOUNT:-}" ]; then
  step=results-volume
  # cloud-init's mounts module mounted it (nofail); without it results would land on the
  # droplet's own disk, so a missing volume fails the boot.
  mountpoint -q "$root$CANNY_RESULTS_MOUNT"
  chown "$backend_uid:$backend_uid" "$root$CANNY_RESULTS_MOUNT"
fi

step=ready-marker
install -D -m 0644 /dev/null "$ready_marker"
echo "canny-boot: every step done"
