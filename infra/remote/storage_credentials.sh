#!/usr/bin/env bash
# Keep the results bucket's key where compose finds it (run over SSH by the Pulumi deploy).
#
#   storage_credentials.sh
#   storage_credentials.sh --forget   (the step's delete: both keys leave .env)
#
# stdin:  two lines: the Spaces access key id, then its secret. They only ever travel on
#         stdin (never argv or logs) and land in $APP_DIR/.env (mode 600, the deploy user's),
#         which compose reads to pass AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to the backends.
# env:    CANNY_APP_DIR   the bundle folder (default: this script's parent folder)
# exit:   0 when both values are stored; 65 when stdin lacks one (the .env stays as it was).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

# A delete gets the create's stdin again (pulumi-command runs it with the stored inputs):
# never read here.
if [ "${1:-}" = --forget ]; then
  unset_env_value AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  echo "canny: removed the results bucket's key from $APP_DIR/.env"
  exit 0
fi

access_key="" secret_key=""
IFS= read -r access_key || true
IFS= read -r secret_key || true
if [ -z "$access_key" ] || [ -z "$secret_key" ]; then
  echo "canny: storage credentials need two stdin lines: access key id, then secret" >&2
  exit 65
fi

set_env_value AWS_ACCESS_KEY_ID "$access_key"
set_env_value AWS_SECRET_ACCESS_KEY "$secret_key"
echo "canny: stored the results bucket's key in $APP_DIR/.env (readable by $(id -un) only)"
