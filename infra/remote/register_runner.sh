#!/usr/bin/env bash
# Register this droplet's GitLab Runner, once. The deploy runs it over SSH as the deploy user
# through sudo (cloud-init installs it root-owned as /usr/local/sbin/canny-register-runner and
# allows exactly this script in sudoers):
#
#   sudo /usr/local/sbin/canny-register-runner URL NAME EXECUTOR DOCKER_IMAGE <<< "$TOKEN"
#   sudo /usr/local/sbin/canny-register-runner --unregister NAME   (the deploy step's delete)
#
# The runner authentication token (glrt-...) comes on stdin, never in user data (readable by
# every process on the droplet at 169.254.169.254), a command line or a file. gitlab-runner
# reads it from CI_SERVER_TOKEN (the env name of its --token flag, gitlab-org/gitlab-runner
# common/config.go). A runner already registered under NAME is left alone, so a re-run (a new
# deploy, a changed token) never registers a second runner.
# env:  CANNY_RUNNER_CONFIG  default /etc/gitlab-runner/config.toml
# Only the docker executor: a shell job would run on the droplet itself as gitlab-runner.
# exit: 0 registered or already registered (unregistered, or not registered); 64 bad usage,
#       another executor or no token on stdin.
set -euo pipefail

config="${CANNY_RUNNER_CONFIG:-/etc/gitlab-runner/config.toml}"
registered() {
  [ -f "$config" ] && grep -Eq "^[[:space:]]*name = \"$1\"[[:space:]]*\$" "$config"
}

# The delete: `gitlab-runner unregister --name` takes the runner out of the config, so the
# droplet asks for no more jobs (https://docs.gitlab.com/runner/commands/, "unregister").
# A runner created in GitLab (glrt- token) stays there for the next droplet; GitLab drops
# this droplet's runner-manager record by itself after 7 days (gitlab-org/gitlab-runner
# issue 29742). It gets the create's stdin again (pulumi-command runs a delete with the
# stored inputs): never read.
if [ "${1:-}" = --unregister ]; then
  if [ $# -ne 2 ] || [ -z "$2" ]; then
    echo "usage: canny-register-runner --unregister NAME" >&2
    exit 64
  fi
  if ! registered "$2"; then
    echo "canny: runner $2 is not registered in $config: nothing to unregister"
    exit 0
  fi
  gitlab-runner unregister --config "$config" --name "$2"
  echo "canny: runner $2 unregistered"
  exit 0
fi
if [ $# -ne 4 ]; then
  echo "usage: canny-register-runner URL NAME EXECUTOR DOCKER_IMAGE (token on stdin)" >&2
  exit 64
fi
url=$1 name=$2 executor=$3 docker_image=$4
if [ "$executor" != docker ]; then
  echo "canny: executor $executor refused: jobs run only in containers (docker)" >&2
  exit 64
fi
token=""
IFS= read -r token || true
if [ -z "$token" ]; then
  echo "canny: no runner token on stdin" >&2
  exit 64
fi

if registered "$name"; then
  echo "canny: runner $name is already registered in $config: left alone"
  exit 0
fi
CI_SERVER_TOKEN="$token" gitlab-runner register --non-interactive --config "$config" \
  --url "$url" --name "$name" --executor "$executor" --docker-image "$docker_image"
echo "canny: runner $name registered"
