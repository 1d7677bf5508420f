#!/usr/bin/env bash
# Write the Slack-format webhook URL Alertmanager sends alerts to (run over SSH by the deploy).
#
#   write_alertmanager_secret.sh        (the URL on stdin, one line)
#   write_alertmanager_secret.sh --forget   (the step's delete: file and .env key removed)
#
# The URL only ever travels on stdin. It lands in $APP_DIR/alertmanager-secrets/
# slack-webhook-url, which compose mounts read-only into the Alertmanager container
# (ALERTMANAGER_SECRETS_DIR, kept in .env). The container runs as `nobody`
# (prometheus/alertmanager Dockerfile: USER nobody), so the file is world-readable inside a
# folder others may enter but not list; the droplet has no users but deploy and root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

secrets_dir="$APP_DIR/alertmanager-secrets"
# A delete gets the create's stdin again (pulumi-command runs it with the stored inputs):
# never read here.
if [ "${1:-}" = --forget ]; then
  mounted_file_forget "$secrets_dir" slack-webhook-url ALERTMANAGER_SECRETS_DIR
  echo "canny: removed Alertmanager's webhook URL"
  exit 0
fi

IFS= read -r url || true
case "$url" in
  https://*) ;;
  *)
    echo "canny: expected an https:// webhook URL on stdin" >&2
    exit 64
    ;;
esac
mounted_file_prepare "$secrets_dir" 0711
printf '%s\n' "$url" >"$secrets_dir/slack-webhook-url.tmp"
mounted_file_publish "$secrets_dir" slack-webhook-url ALERTMANAGER_SECRETS_DIR
echo "canny: Alertmanager's webhook URL is in $secrets_dir"
