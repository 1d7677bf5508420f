#!/usr/bin/env bash
# Deploy one image tag of the app bundle on this host (run over SSH by the Pulumi deploy).
#
#   deploy.sh REGISTRY_IMAGE IMAGE_TAG
#
# stdin:  optional registry login, two lines: user, then password. Empty stdin: no login
#         (public registry). The password only ever travels on stdin (never argv or logs).
# env:    COMPOSE_PROFILES       compose profiles to run, e.g. "monitoring" (kept in .env)
#         CANNY_RESULTS_MOUNT    host folder for results (prod volume); adds the
#                                compose.results-volume.yaml override (kept in .env)
#                                (CANNY_STORAGE=s3 adds compose.bucket-egress.yaml: the
#                                backends' route out to the bucket; COMPOSE_FILE in .env)
#         CANNY_TRUSTED_PROXIES  addresses/CIDRs whose X-Forwarded-For the gateway believes
#                                (the load balancer's VPC range; empty: nobody's; kept in .env)
#         METRICS_BIND           the droplet's private address its Prometheus is published on
#                                for the fleet Prometheus (empty: loopback; kept in .env)
#         CANNY_STORAGE, CANNY_S3_BUCKET, CANNY_S3_ENDPOINT_URL, CANNY_S3_REGION,
#         CANNY_RETENTION_DAYS,  where the backends keep results and for how long, and where
#         CANNY_RESULTS_BUCKET_URL the gateway's /results/ reads them from; each one
#                                given is kept in .env (the bucket's key comes from
#                                storage_credentials.sh, never from here)
#         BACKEND_DIGEST,        the digests (sha256:...) the release's images were tested
#         GATEWAY_DIGEST         with: both or neither; compose then pulls
#                                <image>:<tag>@<digest>, i.e. by digest (app/compose.yaml)
#         CANNY_APP_DIR          the bundle folder (default: this script's parent folder)
# files:  $APP_DIR/image_tag            the release of the most recent deploy: its tag, then
#                                       the two digests when pinned ("tag backend gateway")
#         $APP_DIR/image_tag.previous   the release before it: what rollback.sh returns to
# exit:   0 when compose brought the stack up; readiness is checked by gate.sh afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

if [ "$#" -ne 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
  echo "usage: deploy.sh REGISTRY_IMAGE IMAGE_TAG (registry user and password on stdin)" >&2
  exit 64
fi
registry_image="$1" image_tag="$2"
backend_digest="${BACKEND_DIGEST:-}" gateway_digest="${GATEWAY_DIGEST:-}"
if [ -n "$backend_digest$gateway_digest" ]; then
  for digest in "$backend_digest" "$gateway_digest"; do
    if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
      echo "canny: BACKEND_DIGEST and GATEWAY_DIGEST must both be sha256:<64 hex>, got '$digest'" >&2
      exit 64
    fi
  done
fi
release="$image_tag${backend_digest:+ $backend_digest $gateway_digest}"

registry_user="" registry_password=""
if [ ! -t 0 ]; then # a terminal means a human without a login to give: do not wait for one
  IFS= read -r registry_user || true
  IFS= read -r registry_password || true
fi
if [ -n "$registry_user" ]; then
  registry_host="${registry_image%%/*}"
  echo "canny: logging in to $registry_host as the configured registry user"
  printf '%s' "$registry_password" |
    docker login --username "$registry_user" --password-stdin "$registry_host" >/dev/null
fi

current_tag=""
[ -f "$APP_DIR/image_tag" ] && current_tag="$(cat "$APP_DIR/image_tag")"
if [ -n "$current_tag" ] && [ "$current_tag" != "$release" ]; then
  cp "$APP_DIR/image_tag" "$APP_DIR/image_tag.previous"
fi
printf '%s\n' "$release" >"$APP_DIR/image_tag"

set_env_value REGISTRY_IMAGE "$registry_image"
set_env_value IMAGE_TAG "$image_tag"
pin_images "$backend_digest" "$gateway_digest"
set_env_value COMPOSE_PROFILES "${COMPOSE_PROFILES:-}"
set_env_value CANNY_TRUSTED_PROXIES "${CANNY_TRUSTED_PROXIES:-}"
set_env_value METRICS_BIND "${METRICS_BIND:-}"
for key in CANNY_STORAGE CANNY_S3_BUCKET CANNY_S3_ENDPOINT_URL CANNY_S3_REGION CANNY_RETENTION_DAYS \
  CANNY_RESULTS_BUCKET_URL; do
  if [ -n "${!key:-}" ]; then
    set_env_value "$key" "${!key}"
  fi
done
# The compose files, in .env so that rollback.sh and a person's `docker compose` on the
# droplet run the same stack; written every time, so a changed storage drops an override.
compose_files="compose.yaml"
if [ -n "${CANNY_RESULTS_MOUNT:-}" ]; then
  if ! mountpoint -q "$CANNY_RESULTS_MOUNT"; then
    echo "canny: $CANNY_RESULTS_MOUNT is not mounted: refusing to write results to the droplet's disk" >&2
    exit 1
  fi
  set_env_value CANNY_RESULTS_MOUNT "$CANNY_RESULTS_MOUNT"
  compose_files+=":compose.results-volume.yaml"
fi
# Results in a bucket: the backends need a route out to it (compose.bucket-egress.yaml).
if [ "${CANNY_STORAGE:-}" = s3 ]; then
  compose_files+=":compose.bucket-egress.yaml"
fi
set_env_value COMPOSE_FILE "$compose_files"

echo "canny: deploying $registry_image:$release (previous: ${current_tag:-none})"
compose pull
compose_up
echo "canny: compose is up with $image_tag"
