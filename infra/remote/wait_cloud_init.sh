#!/usr/bin/env bash
# Wait until cloud-init has finished on a new droplet (piped to `bash -s` over SSH by the
# Pulumi deploy before anything is copied). Exit 2 from `cloud-init status --wait` means
# it finished with recoverable errors: reported, not fatal. The marker is the last runcmd
# step of infra/cloud-init.template.yaml, so its absence means runcmd stopped early.
#
# env:  CANNY_READY_MARKER   default /var/lib/canny/cloud-init.done
#       CANNY_CLOUD_INIT_LOG default /var/log/cloud-init-output.log
set -euo pipefail

marker="${CANNY_READY_MARKER:-/var/lib/canny/cloud-init.done}"
log="${CANNY_CLOUD_INIT_LOG:-/var/log/cloud-init-output.log}"

diagnose() {
  cloud-init status --long >&2 || true
  echo "--- last 50 lines of $log" >&2
  tail -n 50 "$log" >&2 || true
}

status=0
cloud-init status --wait >/dev/null || status=$?
case "$status" in
  0) ;;
  2)
    echo "canny: cloud-init finished with recoverable errors (continuing):" >&2
    cloud-init status --long >&2 || true
    ;;
  *)
    echo "canny: cloud-init failed (exit $status)" >&2
    diagnose
    exit 1
    ;;
esac
if [ ! -e "$marker" ]; then
  echo "canny: cloud-init finished but $marker is missing: runcmd did not complete" >&2
  diagnose
  exit 1
fi
echo "canny: cloud-init done"
