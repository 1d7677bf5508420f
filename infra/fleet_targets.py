"""The fleet Prometheus' targets: every droplet's Prometheus at its private VPC address.

Rendered as a Prometheus file_sd JSON list of target groups, one per droplet, labelled
`droplet` with the droplet's name so every federated series and alert says which droplet it
is about (https://prometheus.io/docs/prometheus/latest/configuration/configuration/
#file_sd_config). No Pulumi here: the deploy and the tests render the same file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

# The droplet Prometheus' port (compose service `prometheus`, published on METRICS_BIND).
# The fleet Prometheus federates it; the firewall opens it to the VPC's range only.
FEDERATION_PORT = 9090


def fleet_targets_json(droplets: Sequence[tuple[str, str]], port: int = FEDERATION_PORT) -> str:
    """(droplet name, private IPv4) pairs, in fleet order -> the file_sd JSON text."""
    groups = [
        {"targets": [f"{address}:{port}"], "labels": {"droplet": name}}
        for name, address in droplets
    ]
    return json.dumps(groups, indent=2) + "\n"
