#!/usr/bin/env bash
# Roll the app back to the release (image tag, and digests when pinned) that ran before the
# most recent deploy, then wait for the readiness gate. Run over SSH as the deploy user (ci/rollback.py does this):
#
#   bash "$CANNY_APP_DIR/bin/rollback.sh"   (the app folder: REMOTE_APP_DIR, infra/bundle.py)
#
# No arguments, no stdin: the registry login from the deploy is still in ~/.docker and the
# previous images are normally still on the host. The tags are swapped, so running it twice
# returns to where it started.
# env:  CANNY_APP_DIR, and the CANNY_GATE_* settings of gate.sh.
# exit: 0 rolled back and ready; 3 nothing to roll back to; 1 the previous tag is not ready.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

if [ ! -s "$APP_DIR/image_tag.previous" ]; then
  echo "canny: no previous image tag in $APP_DIR/image_tag.previous: nothing to roll back to" >&2
  exit 3
fi
# A release is its tag, then its images' digests when deploy.sh pinned them.
previous_tag="$(cat "$APP_DIR/image_tag.previous")"
failed_tag="$(cat "$APP_DIR/image_tag" 2>/dev/null || true)"
read -r image_tag backend_digest gateway_digest <<<"$previous_tag"

echo "canny: rolling back from ${failed_tag:-unknown} to $previous_tag"
set_env_value IMAGE_TAG "$image_tag"
pin_images "${backend_digest:-}" "${gateway_digest:-}"
printf '%s\n' "$previous_tag" >"$APP_DIR/image_tag"
printf '%s\n' "$failed_tag" >"$APP_DIR/image_tag.previous"
# A registry outage must not block a rollback: the previous images are normally still here,
# and if they are not, `up` fails and says which one is missing.
if ! compose pull; then
  echo "canny: pull failed: rolling back with the images already on this host" >&2
fi
compose_up
bash "$(dirname "${BASH_SOURCE[0]}")/gate.sh"
echo "canny: rolled back to $previous_tag"
