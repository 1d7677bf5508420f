"""An alert reaches a person: real Prometheus fires a rule, real Alertmanager (the repo's
alertmanager.yml, as `./run --monitoring` starts it) sends it to the Slack-format webhook
URL from its secrets file, here a receiver started by the test on 127.0.0.1."""

from __future__ import annotations

import queue
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from localrun import processes
from localrun.monitoring import FLEET_CONFIG
from tests.conftest import pick_free_port
from tests.integration.monitoring.conftest import start_prometheus
from tests.integration.monitoring.webhook_receiver import WebhookReceiver

# Prometheus evaluates every second and sends at once; Alertmanager waits group_wait
# (10 s in alertmanager.yml) before the first message: 60 s is a generous bound.
DELIVERY_TIMEOUT_S = 60.0
# Test-only rule: the repo's BackendDown waits 2 minutes; this one fires on the first
# evaluation of a down target, with the same labels and annotations a real rule has.
TEST_RULES = {
    "groups": [
        {
            "name": "delivery-test",
            "rules": [
                {
                    "alert": "TestBackendUnreachable",
                    "expr": 'up{job="backend"} == 0',
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "Backend {{ $labels.instance }} is unreachable.",
                        "action": "Nothing: this alert exists only in a test.",
                    },
                }
            ],
        }
    ]
}


def prometheus_config(alertmanager: str, rules: Path, down_target: str) -> str:
    """The fleet Prometheus' config with its alerting section kept and pointed at the test's
    Alertmanager, scraping one target that is down, every second."""
    config = yaml.safe_load(FLEET_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules)]
    config["scrape_configs"] = [
        {
            "job_name": "backend",
            "static_configs": [{"targets": [down_target], "labels": {"instance": "backend-1"}}],
        }
    ]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [alertmanager]}]
    return yaml.safe_dump(config)


def test_a_firing_rule_reaches_the_webhook(
    tmp_path: Path,
    receiver: WebhookReceiver,
    alertmanager: str,
    require_tool: Callable[[str], str],
) -> None:
    prometheus = f"127.0.0.1:{pick_free_port()}"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(TEST_RULES))
    config = prometheus_config(alertmanager, rules, f"127.0.0.1:{pick_free_port()}")
    folder = tmp_path / "prometheus"
    binary = require_tool("prometheus")
    process = start_prometheus("prometheus", folder, config, prometheus, binary)
    try:
        message = receiver.bodies.get(timeout=DELIVERY_TIMEOUT_S)
    except queue.Empty:
        logs = "\n".join(log.read_text()[-2000:] for log in tmp_path.rglob("*.log"))
        pytest.fail(f"no alert reached the webhook within {DELIVERY_TIMEOUT_S:.0f}s\n{logs}")
    finally:
        processes.stop(process)

    (attachment,) = message["attachments"]
    assert attachment["title"] == "[FIRING] TestBackendUnreachable on backend-1"
    assert "Backend backend-1 is unreachable." in attachment["text"]
    assert "What to do: Nothing: this alert exists only in a test." in attachment["text"]
