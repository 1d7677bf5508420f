#!/usr/bin/env bash
# Keep the secrets that sign owner keys where compose finds them (run over SSH by the
# Pulumi deploy).
#
#   owner_key_secrets.sh
#   owner_key_secrets.sh --forget   (the step's delete: the value leaves .env)
#
# stdin:  one line: CANNY_OWNER_KEY_SECRETS, comma-separated, the first signing. It only
#         ever travels on stdin (never argv or logs) and lands in $APP_DIR/.env (mode 600,
#         the deploy user's), which compose passes to the backends.
# env:    CANNY_APP_DIR   the bundle folder (default: this script's parent folder)
# exit:   0 when stored; 65 when stdin is empty (the .env stays as it was).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

# A delete gets the create's stdin again (pulumi-command runs it with the stored inputs):
# never read here.
if [ "${1:-}" = --forget ]; then
  unset_env_value CANNY_OWNER_KEY_SECRETS
  echo "canny: removed the owner-key secrets from $APP_DIR/.env"
  exit 0
fi

secrets_line=""
IFS= read -r secrets_line || true
if [ -z "$secrets_line" ]; then
  echo "canny: the owner-key secrets need one stdin line" >&2
  exit 65
fi

set_env_value CANNY_OWNER_KEY_SECRETS "$secrets_line"
echo "canny: stored the owner-key secrets in $APP_DIR/.env (readable by $(id -un) only)"
