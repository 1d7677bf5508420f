#!/usr/bin/env bash
# Write the fleet Prometheus' targets: every droplet of the stack (run over SSH by the deploy
# on the stack's first droplet).
#
#   write_fleet_targets.sh        (a Prometheus file_sd JSON list on stdin)
#   write_fleet_targets.sh --forget   (the step's delete: file and .env key removed)
#
# The file lands in $APP_DIR/fleet-targets/droplets.json, which compose mounts read-only
# into the fleet-prometheus container (FLEET_TARGETS_DIR, kept in .env). It is replaced by a
# rename in the same folder, so Prometheus never reads half a file; Prometheus watches the
# folder's files and applies a change without a restart
# (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config).
# The container runs as `nobody` (prometheus/prometheus Dockerfile: USER nobody): the file is
# world-readable; it holds private addresses and droplet names, nothing secret.
# exit:   0 when written; 65 when stdin is not a JSON list of target groups.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/compose_cli.sh"

targets_dir="$APP_DIR/fleet-targets"
# A delete gets the create's stdin again (pulumi-command runs it with the stored inputs):
# never read here.
if [ "${1:-}" = --forget ]; then
  mounted_file_forget "$targets_dir" droplets.json FLEET_TARGETS_DIR
  echo "canny: removed the fleet Prometheus' targets"
  exit 0
fi
mounted_file_prepare "$targets_dir" 0755
cat >"$targets_dir/droplets.json.tmp"
if ! python3 -c '
import json, sys
groups = json.load(open(sys.argv[1]))
assert isinstance(groups, list) and groups
assert all(isinstance(g.get("targets"), list) and g["targets"] for g in groups)
' "$targets_dir/droplets.json.tmp" 2>/dev/null; then
  rm -f "$targets_dir/droplets.json.tmp"
  echo "canny: expected a non-empty file_sd JSON list of target groups on stdin" >&2
  exit 65
fi
mounted_file_publish "$targets_dir" droplets.json FLEET_TARGETS_DIR
echo "canny: the fleet Prometheus scrapes $(grep -o '"targets"' "$targets_dir/droplets.json" | wc -l) droplet(s)"
