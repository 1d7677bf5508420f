"""app/monitoring: promtool's own checks and unit tests, plus what promtool cannot see
(every alert documented and tested on both sides, metric names the backend really has)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from canny import metrics

from localrun.monitoring import (
    FLEET_CONFIG,
    MTAIL_PROGRAMS,
    RULES_FILE,
    MonitoringConfigError,
    render_config,
)

MONITORING_DIR = Path(__file__).resolve().parents[3] / "app" / "monitoring"
PROMETHEUS_CONFIG = MONITORING_DIR / "prometheus.yml"
RULES_TESTS = MONITORING_DIR / "alert-rules.test.yml"
ALERTS = [
    rule for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]
]
RULE_TESTS = yaml.safe_load(RULES_TESTS.read_text())["tests"]


def promtool(require_tool: Callable[[str], str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("promtool"), *args],
        cwd=MONITORING_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "config", "fleet-prometheus.yml"),
        ("check", "rules", "alert-rules.yml"),
        ("test", "rules", "alert-rules.test.yml"),
    ],
    ids=" ".join,
)
def test_promtool(require_tool: Callable[[str], str], args: tuple[str, ...]) -> None:
    result = promtool(require_tool, *args)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_promtool_accepts_the_local_rendering(
    require_tool: Callable[[str], str], tmp_path: Path
) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(
            ["127.0.0.1:1", "127.0.0.1:2"],
            *("127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6", "127.0.0.1:7"),
        )
    )
    result = promtool(require_tool, "check", "config", str(config))
    assert result.returncode == 0, f"local config rejected:\n{result.stdout}{result.stderr}"


def scrape_jobs(config: dict) -> dict[str, set[str]]:
    return {
        job["job_name"]: {group["labels"]["instance"] for group in job["static_configs"]}
        for job in config["scrape_configs"]
    }


LOCAL_ADDRESSES = (["a:1", "b:2"], "c:3", "g:7", "d:4", "e:5", "f:6")


def test_local_rendering_takes_the_droplet_jobs_without_cadvisor() -> None:
    droplet = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    # The droplet finds its backends by DNS; locally each backend is a named target.
    discovered = [job for job in droplet["scrape_configs"] if "dns_sd_configs" in job]
    assert [job["job_name"] for job in discovered] == ["backend"]
    droplet["scrape_configs"].remove(discovered[0])
    expected = scrape_jobs(droplet) | {"backend": {"backend-1", "backend-2"}}
    del expected["cadvisor"]
    local = json.loads(render_config(*LOCAL_ADDRESSES))
    assert scrape_jobs(local) == expected
    targets = {
        target
        for job in local["scrape_configs"]
        for g in job["static_configs"]
        for target in g["targets"]
    }
    assert targets == {"a:1", "b:2", "c:3", "g:7", "d:4", "e:5"}, "every job at a local address"


def test_a_droplet_job_without_a_local_address_fails_the_local_rendering(tmp_path: Path) -> None:
    """The droplet's prometheus.yml is the one job list: a job added there must be given a
    local address (or be named as droplet-only), never silently dropped."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["scrape_configs"].append(
        {
            "job_name": "worker",
            "static_configs": [{"targets": ["worker:9000"], "labels": {"instance": "worker"}}],
        }
    )
    changed = tmp_path / "prometheus.yml"
    changed.write_text(yaml.safe_dump(config))
    with pytest.raises(MonitoringConfigError, match="'worker'"):
        render_config(*LOCAL_ADDRESSES, droplet_config=changed)


def test_a_droplet_job_discovering_another_service_fails_the_local_rendering(
    tmp_path: Path,
) -> None:
    """Only compose's backend replicas are found by DNS, and ./run knows their addresses."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["scrape_configs"].append(
        {"job_name": "worker", "dns_sd_configs": [{"names": ["worker"], "type": "A", "port": 1}]}
    )
    changed = tmp_path / "prometheus.yml"
    changed.write_text(yaml.safe_dump(config))
    with pytest.raises(MonitoringConfigError, match="'worker' discovers"):
        render_config(*LOCAL_ADDRESSES, droplet_config=changed)


def test_local_rendering_alerts_like_the_fleet_prometheus() -> None:
    fleet = yaml.safe_load(FLEET_CONFIG.read_text())
    local = json.loads(render_config(*LOCAL_ADDRESSES))
    (fleet_alertmanagers,) = fleet["alerting"]["alertmanagers"]
    fleet_alertmanagers["static_configs"][0]["targets"] = ["f:6"]
    assert local["alerting"] == fleet["alerting"]
    assert [Path(name).name for name in local["rule_files"]] == fleet["rule_files"]


def test_only_the_fleet_prometheus_evaluates_rules_and_alerts() -> None:
    """Every droplet runs prometheus.yml; alerting there too would page once per droplet."""
    droplet = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert "rule_files" not in droplet and "alerting" not in droplet


@pytest.mark.parametrize("alert", ALERTS, ids=lambda rule: rule["alert"])
def test_alert_says_what_and_what_to_do(alert: dict) -> None:
    assert alert.get("for"), f"{alert['alert']} fires on a single bad sample; give it a `for`"
    assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
    assert set(alert["annotations"]) == {"summary", "action"}, alert["alert"]


@pytest.mark.parametrize("alert", ALERTS, ids=lambda rule: rule["alert"])
def test_alert_is_unit_tested_firing_and_quiet(alert: dict) -> None:
    cases = [
        case["exp_alerts"]
        for test in RULE_TESTS
        for case in test["alert_rule_test"]
        if case["alertname"] == alert["alert"]
    ]
    assert any(expected == [] for expected in cases), f"{alert['alert']}: no quiet case"
    firing = [expected for expected in cases if expected]
    assert firing, f"{alert['alert']}: no firing case"
    for expected in firing:
        for instance in expected:
            assert set(instance["exp_annotations"]) == {"summary", "action"}, alert["alert"]


def test_backend_metric_names_exist() -> None:
    """A renamed metric would leave its alert silently matching nothing. The gateway's log
    metrics are the ones its mtail programs declare."""
    exported = {metric.name for metric in metrics.REGISTRY.collect()}
    programs = "".join(path.read_text() for path in MTAIL_PROGRAMS.glob("*.mtail"))
    from_logs = set(re.findall(r"^counter (canny_\w+)", programs, re.MULTILINE))
    assert from_logs, "expected the gateway's log metrics"
    used = {name for rule in ALERTS for name in re.findall(r"\b(canny_[a-z_]+)", rule["expr"])}
    assert from_logs <= used, f"declared but unused in alerts: {from_logs - used}"
    used -= from_logs
    suffixes = ("_bucket", "_total", "_count", "_sum")
    base_names = {next((n.removesuffix(s) for s in suffixes if n.endswith(s)), n) for n in used}
    assert used, "expected the rules to use backend metrics"
    assert base_names <= exported, f"not exported by canny.metrics: {base_names - exported}"
