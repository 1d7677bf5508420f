"""One Prometheus sees every droplet: the repo's fleet-prometheus.yml run by a real
Prometheus, federating two stand-in droplet Prometheus servers (127.0.0.2 and 127.0.0.3, one
port, as droplets share one port on their private addresses) from a file_sd targets file
rendered by infra/fleet_targets.py, the deploy's own code. When one stand-in stops, the
repo's DropletDown rule fires and its alert reaches a webhook through a real Alertmanager."""

from __future__ import annotations

import json
import queue
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml

from infra.fleet_targets import fleet_targets_json
from localrun import processes
from localrun.monitoring import DROPLET_CONFIG, FLEET_CONFIG, RULES_FILE
from tests.conftest import pick_free_port
from tests.integration.monitoring.conftest import start_prometheus
from tests.integration.monitoring.webhook_receiver import WebhookReceiver

# Short intervals keep the test bounded: scrapes and rule evaluations every second, and
# DropletDown's 2 minutes shortened to 3 s (everything else about the rule is the repo's).
INTERVAL = "1s"
RULE_FOR = "3s"
STAND_INS = {"droplet-a": "127.0.0.2", "droplet-b": "127.0.0.3"}
WAIT_S = 40.0
# Alertmanager's group_wait (10 s) comes on top of the rule's `for`: 60 s is generous.
DELIVERY_TIMEOUT_S = 60.0


def stand_in_config(address: str) -> dict:
    """A droplet's own prometheus.yml, reduced to its self-scrape (the one target that
    exists here), so the stand-in has series to federate under the droplet's job names."""
    config = yaml.safe_load(DROPLET_CONFIG.read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "prometheus"]
    job["static_configs"][0]["targets"] = [address]
    config["global"] = {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL}
    config["scrape_configs"] = [job]
    return config


def fleet_config(folder: Path, alertmanager: str) -> dict:
    """The repo's fleet-prometheus.yml with paths and intervals for the test; its federation
    job (honor_labels, /federate, match[]) is kept as it is."""
    rules = yaml.safe_load(RULES_FILE.read_text())
    (droplet_down,) = [
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule["alert"] == "DropletDown"
    ]
    droplet_down["for"] = RULE_FOR
    rules_path = folder / "rules.yml"
    rules_path.write_text(yaml.safe_dump({"groups": [{"name": "fleet", "rules": [droplet_down]}]}))
    config = yaml.safe_load(FLEET_CONFIG.read_text())
    config["global"] = {
        "scrape_interval": INTERVAL,
        "scrape_timeout": INTERVAL,
        "evaluation_interval": INTERVAL,
    }
    config["rule_files"] = [str(rules_path)]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = config["scrape_configs"]
    (file_sd,) = job["file_sd_configs"]
    file_sd["files"] = [str(folder / "targets" / "*.json")]
    return config


def write_targets(folder: Path, droplets: dict[str, str], port: int) -> None:
    """As write_fleet_targets.sh does: a new file renamed over the old one."""
    targets = folder / "targets"
    targets.mkdir(exist_ok=True)
    (targets / "droplets.json.tmp").write_text(fleet_targets_json(list(droplets.items()), port))
    (targets / "droplets.json.tmp").rename(targets / "droplets.json")


class FleetPrometheus:
    def __init__(self, address: str) -> None:
        self.url = f"http://{address}"
        self.http = requests.Session()
        self.http.trust_env = False

    def query(self, expression: str) -> list[dict]:
        response = self.http.get(
            f"{self.url}/api/v1/query", params={"query": expression}, timeout=5
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]["result"]

    def by_droplet(self, expression: str) -> dict[str, str]:
        return {r["metric"].get("droplet", ""): r["value"][1] for r in self.query(expression)}

    def wait_for(self, what: str, expression: str, expected: dict[str, str]) -> None:
        deadline = time.monotonic() + WAIT_S
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            seen = self.by_droplet(expression)
            if seen == expected:
                return
            time.sleep(0.5)
        raise AssertionError(f"never saw {what} within {WAIT_S:.0f}s: {expression} -> {seen}")


@pytest.fixture
def fleet(
    tmp_path: Path, alertmanager: str, require_tool: Callable[[str], str]
) -> Iterator[tuple[FleetPrometheus, dict[str, subprocess.Popen], Path, int]]:
    """Two stand-in droplets on one port and the fleet Prometheus, its targets file naming
    only droplet-a for now."""
    binary = require_tool("prometheus")
    port = pick_free_port()
    started: dict[str, subprocess.Popen] = {}
    try:
        for name, host in STAND_INS.items():
            address = f"{host}:{port}"
            config = yaml.safe_dump(stand_in_config(address))
            started[name] = start_prometheus(name, tmp_path / name, config, address, binary)
        folder = tmp_path / "fleet"
        folder.mkdir()
        write_targets(folder, {"droplet-a": STAND_INS["droplet-a"]}, port)
        address = f"127.0.0.1:{pick_free_port()}"
        config = yaml.safe_dump(fleet_config(folder, alertmanager))
        started["fleet"] = start_prometheus("fleet", folder, config, address, binary)
        yield FleetPrometheus(address), started, folder, port
    finally:
        for process in started.values():
            processes.stop(process)


def test_the_fleet_prometheus_sees_every_droplet_and_alerts_on_a_lost_one(
    fleet: tuple[FleetPrometheus, dict[str, subprocess.Popen], Path, int],
    receiver: WebhookReceiver,
) -> None:
    prometheus, started, folder, port = fleet
    prometheus.wait_for("droplet-a up", 'up{job="droplet"}', {"droplet-a": "1"})

    # A droplet added to the stack: the deploy rewrites the file, Prometheus is not restarted.
    write_targets(folder, STAND_INS, port)
    both_up = {"droplet-a": "1", "droplet-b": "1"}
    prometheus.wait_for("both droplets up", 'up{job="droplet"}', both_up)
    # Federated series keep the droplet's own job and instance and gain its name.
    prometheus.wait_for(
        "both droplets' own series", 'up{job="prometheus", instance="prometheus"}', both_up
    )
    assert receiver.bodies.empty(), f"alerted while every droplet is up: {receiver.bodies.get()}"

    processes.stop(started["droplet-b"])
    try:
        message = receiver.bodies.get(timeout=DELIVERY_TIMEOUT_S)
    except queue.Empty:
        logs = "\n".join(log.read_text()[-2000:] for log in folder.parent.rglob("*.log"))
        pytest.fail(f"no DropletDown reached the webhook in {DELIVERY_TIMEOUT_S:.0f}s\n{logs}")

    instance = f"{STAND_INS['droplet-b']}:{port}"
    (attachment,) = message["attachments"]
    assert attachment["title"] == f"[FIRING] DropletDown on droplet-b {instance}"
    assert (
        f"Droplet droplet-b ({instance}) has not answered the fleet Prometheus for 2 minutes."
        in attachment["text"]
    )
    firing = prometheus.query('ALERTS{alertname="DropletDown", alertstate="firing"}')
    assert [alert["metric"]["droplet"] for alert in firing] == ["droplet-b"], json.dumps(firing)
    assert prometheus.by_droplet('up{job="droplet"}') == {"droplet-a": "1", "droplet-b": "0"}
