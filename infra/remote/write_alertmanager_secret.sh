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
  rm -f "$secrets_dir/slack-webhook-url" "$secrets_dir/slack-webhook-url.tmp"
  rmdir "$secrets_dir" 2>/dev/null || true
  unset_env_value ALERTMANAGER_SECRETS_DIR
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
mkdir -p "$secrets_dir"
chmod 0711 "$secrets_dir"
umask 0022
printf '%s\n' "$url" >"$secrets_dir/slack-webhook-url.tmp"
mv "$secrets_dir/slack-webhook-url.tmp" "$secrets_dir/slack-webhook-url"
set_env_value ALERTMANAGER_SECRETS_DIR "$secrets_dir"
echo "canny: Alertmanager's webhook URL is in $secrets_dir"
