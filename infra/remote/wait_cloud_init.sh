#!/usr/bin/env bash
# Wait until cloud-init has finished on a new droplet (piped to `bash -s` over SSH by the
# Pulumi deploy before anything is copied), at most CANNY_CLOUD_INIT_TIMEOUT seconds.
# Exit 2 from `cloud-init status --wait` means it finished with recoverable errors: reported,
# not fatal. The boot script (infra/boot/canny-boot.sh) writes the ready marker only when
# every step succeeded, and the failure marker naming the step that failed otherwise.
# On failure or timeout: `cloud-init status --long`, the failure marker and the log tail.
#
# env:  CANNY_CLOUD_INIT_TIMEOUT seconds, default 900 (canny:cloudInitTimeout)
#       CANNY_READY_MARKER       default /var/lib/canny/cloud-init.done
#       CANNY_FAILURE_MARKER     default /var/lib/canny/cloud-init.failed
#       CANNY_CLOUD_INIT_LOG     default /var/log/cloud-init-output.log
set -euo pipefail

limit="${CANNY_CLOUD_INIT_TIMEOUT:-900}"
marker="${CANNY_READY_MARKER:-/var/lib/canny/cloud-init.done}"
failure="${CANNY_FAILURE_MARKER:-/var/lib/canny/cloud-init.failed}"
log="${CANNY_CLOUD_INIT_LOG:-/var/log/cloud-init-output.log}"

diagnose() {
  echo "--- cloud-init status --long" >&2
  cloud-init status --long >&2 || true
  if [ -e "$failure" ]; then
    echo "--- $failure" >&2
    cat "$failure" >&2 || true
  fi
  echo "--- last 50 lines of $log" >&2
  tail -n 50 "$log" >&2 || true
}

status=0
timeout "$limit" cloud-init status --wait >/dev/null || status=$?
case "$status" in
  0) ;;
  2)
    echo "canny: cloud-init finished with recoverable errors (continuing):" >&2
    cloud-init status --long >&2 || true
    ;;
  124)
    echo "canny: cloud-init did not finish within ${limit}s" >&2
    diagnose
    exit 1
    ;;
  *)
    echo "canny: cloud-init failed (exit $status)" >&2
    diagnose
    exit 1
    ;;
esac
if [ -e "$failure" ] || [ ! -e "$marker" ]; then
  echo "canny: cloud-init finished but the boot script did not complete ($marker is missing)" >&2
  diagnose
  exit 1
fi
echo "canny: cloud-init done"
