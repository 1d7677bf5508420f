"""`./run --monitoring` for real: the local stack, Debian's Prometheus and exporters,
queried through the Prometheus HTTP API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from localrun import LocalStack, processes
from localrun.monitoring import start_monitoring
from tests.conftest import MONITORING_TOOLS, pick_free_port
from tests.unit.backend import sample_images

UPLOADS = 5
QUERY_TIMEOUT_S = 40.0
UPLOAD_COUNTER = 'sum(canny_http_requests_total{route="/api/images", method="POST", status="201"})'


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False

    def query(self, expression: str) -> list[dict]:
        response = self.http.get(
            f"{self.url}/api/v1/query", params={"query": expression}, timeout=5
        )
        assert response.status_code == 200, f"query {expression!r}: {response.text}"
        return response.json()["data"]["result"]

    def scalar(self, expression: str) -> float:
        """The single value of an aggregate; 0 while the series does not exist yet."""
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + QUERY_TIMEOUT_S
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        raise AssertionError(f"Prometheus never showed {what} within {QUERY_TIMEOUT_S:.0f}s")


@pytest.fixture(scope="module")
def monitored_stack(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[tuple[LocalStack, Prometheus]]:
    for tool in ("nginx", *MONITORING_TOOLS):
        require_tool(tool)
    run_dir: Path = tmp_path_factory.mktemp("monitored-run")
    port = pick_free_port()
    with LocalStack(run_dir, pick_free_port()) as stack:
        started: list[subprocess.Popen] = start_monitoring(
            run_dir,
            [b.address for b in stack.backends],
            stack.status_address,
            stack.access_log,
            port,
        )
        try:
            yield stack, Prometheus(f"http://127.0.0.1:{port}")
        finally:
            for process in started:
                processes.stop(process)


def up_by_instance(prometheus: Prometheus, job: str) -> dict[str, str]:
    return {r["metric"]["instance"]: r["value"][1] for r in prometheus.query(f'up{{job="{job}"}}')}


def test_both_backends_are_scraped(monitored_stack: tuple[LocalStack, Prometheus]) -> None:
    _, prometheus = monitored_stack
    prometheus.wait_for(
        "both backends up",
        lambda: up_by_instance(prometheus, "backend") == {"backend-1": "1", "backend-2": "1"},
    )


@pytest.mark.parametrize("job", ["gateway", "gateway-log", "node", "prometheus"])
def test_exporters_are_scraped(monitored_stack: tuple[LocalStack, Prometheus], job: str) -> None:
    _, prometheus = monitored_stack
    prometheus.wait_for(f"{job} up", lambda: set(up_by_instance(prometheus, job).values()) == {"1"})


def test_upload_counter_rises_by_the_number_of_uploads(
    monitored_stack: tuple[LocalStack, Prometheus],
) -> None:
    stack, prometheus = monitored_stack
    prometheus.wait_for("both backends up", lambda: len(up_by_instance(prometheus, "backend")) == 2)
    before = prometheus.scalar(UPLOAD_COUNTER)
    http = requests.Session()
    http.trust_env = False
    for seed in range(UPLOADS):
        image = sample_images.encode(sample_images.shapes(seed=1000 + seed))
        response = http.post(
            f"{stack.url}/api/images", files={"file": ("s.png", image, "image/png")}, timeout=30
        )
        assert response.status_code == 201, f"upload {seed}: {response.status_code} {response.text}"

    prometheus.wait_for(
        f"{UPLOAD_COUNTER} rise by {UPLOADS} from {before}",
        lambda: prometheus.scalar(UPLOAD_COUNTER) == before + UPLOADS,
    )


def test_the_gateways_own_503_reaches_prometheus(
    monitored_stack: tuple[LocalStack, Prometheus],
) -> None:
    """With every backend down nginx answers the API with 503 itself: the backends count
    nothing, the gateway's log metrics do (High5xxRatio reads them)."""
    stack, prometheus = monitored_stack
    gateway_503 = 'sum(canny_gateway_api_responses_total{job="gateway-log", status="503"})'
    before = prometheus.scalar(gateway_503)
    http = requests.Session()
    http.trust_env = False
    for index in range(len(stack.backends)):
        stack.kill_backend(index)
    try:
        response = http.get(f"{stack.url}/api/images?limit=1", timeout=10)
    finally:
        for index in range(len(stack.backends)):
            stack.start_backend(index)
    assert response.status_code == 503, response.text
    prometheus.wait_for(
        f"{gateway_503} rise from {before}", lambda: prometheus.scalar(gateway_503) > before
    )


def test_alert_rules_are_loaded(monitored_stack: tuple[LocalStack, Prometheus]) -> None:
    _, prometheus = monitored_stack
    response = prometheus.http.get(f"{prometheus.url}/api/v1/rules", timeout=5)
    names = {rule["name"] for group in response.json()["data"]["groups"] for rule in group["rules"]}
    assert names == {
        "DropletDown",
        "BackendDown",
        "High5xxRatio",
        "ProcessingLatencyHigh",
        "ResultsVolumeNearlyFull",
        "ContainerRestarting",
        "ScrapeTargetMissing",
    }, f"rules loaded: {names}"


def test_prometheus_sends_alerts_to_the_local_alertmanager(
    monitored_stack: tuple[LocalStack, Prometheus],
) -> None:
    _, prometheus = monitored_stack
    found: list[dict] = []

    def discovered() -> bool:
        response = prometheus.http.get(f"{prometheus.url}/api/v1/alertmanagers", timeout=5)
        found[:] = response.json()["data"]["activeAlertmanagers"]
        return bool(found)

    prometheus.wait_for("an active Alertmanager", discovered)
    (alertmanager,) = found
    ready_url = alertmanager["url"].replace("/api/v2/alerts", "/-/ready")
    assert ready_url.startswith("http://127.0.0.1:"), ready_url
    assert prometheus.http.get(ready_url, timeout=5).status_code == 200
