"""app/monitoring/alertmanager.yml: valid for amtool, no secret inside, and wired to the
compose service and Prometheus the way the file says."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import yaml

APP_DIR = Path(__file__).resolve().parents[3] / "app"
ALERTMANAGER_CONFIG = APP_DIR / "monitoring" / "alertmanager.yml"
CONFIG = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
COMPOSE = yaml.safe_load((APP_DIR / "compose.yaml").read_text())
FLEET_PROMETHEUS = yaml.safe_load((APP_DIR / "monitoring" / "fleet-prometheus.yml").read_text())


def mounts(service: dict) -> dict[str, str]:
    """Target -> source of short-syntax volumes; a source may hold `${VAR:-default}`."""
    found = {}
    for volume in service["volumes"]:
        parts = volume.split(":")
        if parts[-1] in ("ro", "rw"):
            parts.pop()
        found[parts[-1]] = ":".join(parts[:-1])
    return found


def test_amtool_accepts_it(require_tool: Callable[[str], str]) -> None:
    result = subprocess.run(
        [require_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"amtool check-config:\n{result.stdout}{result.stderr}"


def test_the_webhook_url_is_read_from_a_file_not_written_here() -> None:
    assert CONFIG["global"]["slack_api_url_file"] == "secrets/slack-webhook-url"
    for receiver in CONFIG["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack, f"{receiver['name']} has a webhook URL in the repo"
    assert "://" not in ALERTMANAGER_CONFIG.read_text().split("\nglobal:", 1)[1]


def test_every_route_ends_at_a_receiver_that_sends_somewhere() -> None:
    names = {receiver["name"] for receiver in CONFIG["receivers"]}
    assert CONFIG["route"]["receiver"] in names
    for receiver in CONFIG["receivers"]:
        configs = [key for key in receiver if key.endswith("_configs")]
        assert configs, f"receiver {receiver['name']} would swallow alerts"


def test_compose_mounts_the_config_and_the_secret_where_the_config_looks() -> None:
    service = COMPOSE["services"]["alertmanager"]
    flags = dict(flag.split("=", 1) for flag in service["command"])
    config_in_container = PurePosixPath(flags["--config.file"])
    targets = mounts(service)
    assert targets[str(config_in_container)] == "./monitoring/alertmanager.yml"
    # Alertmanager opens a relative *_file from its working directory.
    secret = PurePosixPath(service["working_dir"]) / CONFIG["global"]["slack_api_url_file"]
    assert str(secret.parent) in targets, f"nothing mounted at {secret.parent}"
    assert not targets[str(secret.parent)].startswith("./"), "the secret must not be in the bundle"


def test_the_fleet_prometheus_sends_alerts_to_the_compose_alertmanager() -> None:
    service = COMPOSE["services"]["alertmanager"]
    flags = dict(flag.split("=", 1) for flag in service["command"])
    port = flags["--web.listen-address"].rsplit(":", 1)[1]
    (alertmanagers,) = FLEET_PROMETHEUS["alerting"]["alertmanagers"]
    (static,) = alertmanagers["static_configs"]
    assert static["targets"] == [f"alertmanager:{port}"]
    assert set(service["networks"]) & set(COMPOSE["services"]["fleet-prometheus"]["networks"])
