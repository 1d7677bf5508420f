"""Adding a backend is one edit: `services.backend.deploy.replicas` in app/compose.yaml.
A copy of the compose file with 3 there gives three backends to compose, to `./run`'s
gateway (nginx -t, and real requests spread over all three) and to Prometheus."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

import localrun.stack
from localrun import LocalStack
from localrun.backends import BackendCountError, backend_count
from localrun.monitoring import DROPLET_CONFIG, render_config
from tests.integration.gateway.local_rendering import check_local_rendering
from tests.unit.compose.compose_project import COMPOSE_FILE, compose_env

TODAY = "replicas: 2"


@pytest.fixture
def three_backends(tmp_path: Path) -> Path:
    """app/compose.yaml with its one backend number changed from 2 to 3, nothing else."""
    text = COMPOSE_FILE.read_text()
    assert text.count(TODAY) == 1, f"app/compose.yaml no longer says {TODAY!r} exactly once"
    copy = tmp_path / "compose.yaml"
    copy.write_text(text.replace(TODAY, "replicas: 3"))
    return copy


def test_compose_runs_three_backends(
    three_backends: Path, require_tool: Callable[[str], str]
) -> None:
    command = [require_tool("docker-compose"), "-f", str(three_backends), "config"]
    result = subprocess.run(
        command, env=compose_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["backend"]["deploy"]["replicas"] == 3, services["backend"]
    assert backend_count(three_backends) == 3


def test_local_gateway_spreads_requests_over_three_backends(
    three_backends: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    require_tool: Callable[[str], str],
) -> None:
    monkeypatch.setattr(localrun.stack, "backend_count", lambda: backend_count(three_backends))
    nginx = require_tool("nginx")
    (tmp_path / "checked").mkdir()
    checked = check_local_rendering(nginx, LocalStack(tmp_path / "checked"), "-t")
    assert checked.returncode == 0, checked.stderr
    with LocalStack(tmp_path / "run") as stack:
        addresses = {backend.address for backend in stack.backends}
        assert len(addresses) == 3, stack.backends
        for _ in range(6):
            response = requests.get(f"{stack.url}/api/images?limit=1", timeout=10)
            assert response.status_code == 200, response.text
        lines = stack.access_log.read_text().splitlines()
    served = {json.loads(line)["upstream_addr"] for line in lines if "/api/images" in line}
    assert served == addresses, f"requests went to {served}, backends are {addresses}"


def test_prometheus_finds_every_replica_and_scrapes_three_local_backends(
    three_backends: Path, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """On a droplet Prometheus asks DNS for the `backend` service (one answer per replica);
    `./run`'s Prometheus gets one target per local backend."""
    promtool = require_tool("promtool")
    droplet = yaml.safe_load(DROPLET_CONFIG.read_text())
    (droplet_job,) = [job for job in droplet["scrape_configs"] if job["job_name"] == "backend"]
    assert [config["names"] for config in droplet_job["dns_sd_configs"]] == [["backend"]]
    backends = [f"127.0.0.1:{9001 + n}" for n in range(backend_count(three_backends))]
    exporters = [f"127.0.0.1:{port}" for port in (9113, 3903, 9100, 9090, 9093)]
    local_config = tmp_path / "prometheus.yml"
    local_config.write_text(render_config(backends, *exporters))
    for config in (DROPLET_CONFIG, local_config):
        result = subprocess.run(
            [promtool, "check", "config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    jobs = json.loads(local_config.read_text())["scrape_configs"]
    (job,) = [job for job in jobs if job["job_name"] == "backend"]
    targets = {group["labels"]["instance"]: group["targets"] for group in job["static_configs"]}
    assert targets == {f"backend-{n}": [address] for n, address in enumerate(backends, 1)}


@pytest.mark.parametrize("replicas", ["0", "two", "true", "-1"])
def test_a_backend_number_that_is_not_a_count_is_refused(tmp_path: Path, replicas: str) -> None:
    copy = tmp_path / "compose.yaml"
    copy.write_text(COMPOSE_FILE.read_text().replace(TODAY, f"replicas: {replicas}"))
    with pytest.raises(BackendCountError, match=r"deploy\.replicas"):
        backend_count(copy)
