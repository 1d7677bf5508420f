"""app/compose.yaml with the real images, through the gateway's loopback-published port."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from infra.bundle import bundle_files
from infra.rehearse.docker_daemon import PrivateDockerDaemon
from tests.integration.containers.compose_stack import (
    APP_SERVICES,
    COMPOSE_FILE,
    ComposeStack,
    expected_containers,
    upload,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

# Load stays small and bounded: one client, at most this many requests per restart.
RESTART_MAX_REQUESTS = 1500
# Port 1 on loopback refuses at once: a registry that is down, without leaving this machine.
UNREACHABLE_REGISTRY = "127.0.0.1:1/canny"
# mtail picks up the log files within a second (its poll interval is 250 ms).
LOG_METRICS_TIMEOUT_S = 60
GATE_SCRIPT = COMPOSE_FILE.parents[1] / "infra" / "remote" / "gate.sh"
REQUEST_PAUSE_S = 0.02


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never through a proxy: the gateway is on 127.0.0.1
    return session


def test_every_app_service_is_healthy(compose_stack: ComposeStack) -> None:
    health = {(c.service, c.number): c.health for c in compose_stack.containers()}
    expected = dict.fromkeys(expected_containers(APP_SERVICES), "healthy")
    assert health == expected, f"unexpected health: {health}"


def test_backend_workers_set_their_malloc_thresholds(compose_stack: ComposeStack) -> None:
    """canny.allocator works in the image (Debian glibc, uid 10001, read-only root)."""
    check = "from canny import allocator; print(allocator.keep_freed_memory())"
    ran = compose_stack.run("exec", "-T", "--index=1", "backend", "python3", "-c", check)
    assert ran.strip() == "True"
    logs = compose_stack.run("logs", "--no-color", "backend")
    assert "could not set malloc thresholds" not in logs, logs[-3000:]


def test_upload_fetch_result_and_list(compose_stack: ComposeStack, http: requests.Session) -> None:
    created = upload(http, compose_stack, seed=1)

    edges = http.get(f"{compose_stack.url}{created['edges_url']}", timeout=10)
    assert edges.status_code == 200, f"{created['edges_url']} answered {edges.status_code}"
    assert edges.headers["Content-Type"] == "image/png", edges.headers
    decoded = cv2.imdecode(np.frombuffer(edges.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded.shape == (120, 160), f"edge map has shape {decoded.shape}"

    listing = http.get(f"{compose_stack.url}/api/images", timeout=10)
    assert listing.status_code == 200, listing.text
    assert created["id"] in [item["id"] for item in listing.json()["items"]], listing.json()


def test_only_the_gateway_publishes_a_port_and_only_on_loopback(
    compose_stack: ComposeStack,
) -> None:
    published = {
        (c.service, c.number): sorted(
            f"{binding['HostIp']}:{binding['HostPort']}->{port}"
            for port, bindings in c.ports.items()
            for binding in bindings or []
        )
        for c in compose_stack.containers()
    }
    gateway_port = compose_stack.url.rsplit(":", 1)[1]
    expected = {key: [] for key in expected_containers(APP_SERVICES)}
    assert published == expected | {("gateway", 1): [f"127.0.0.1:{gateway_port}->8080/tcp"]}, (
        f"published ports: {published}"
    )


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/api/../metrics"])
def test_gateway_keeps_backend_internals_private(
    compose_stack: ComposeStack, http: requests.Session, path: str
) -> None:
    response = http.get(f"{compose_stack.url}{path}", timeout=10)
    assert response.status_code == 404, f"{path} answered {response.status_code}"


def test_restarting_a_backend_fails_no_request(
    compose_stack: ComposeStack, http: requests.Session
) -> None:
    created = upload(http, compose_stack, seed=2)
    outcomes: list[int | str] = []
    done = threading.Event()

    def keep_requesting() -> None:
        paths = ["/api/images?limit=5", f"/api/images/{created['id']}"]
        while not done.is_set() and len(outcomes) < RESTART_MAX_REQUESTS:
            try:
                status = http.get(f"{compose_stack.url}{paths[len(outcomes) % 2]}", timeout=10)
                outcomes.append(status.status_code)
            except requests.RequestException as error:
                outcomes.append(type(error).__name__)
            time.sleep(REQUEST_PAUSE_S)

    client = threading.Thread(target=keep_requesting)
    client.start()
    try:
        # One replica: compose's `restart backend` would restart them all.
        compose_stack.daemon.docker("restart", compose_stack.container("backend", 1).id)
        compose_stack.wait_healthy()
    finally:
        done.set()
        client.join(timeout=30)

    failures = [outcome for outcome in outcomes if outcome != 200]
    assert outcomes, "no request ran during the restart"
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed: {failures[:10]}"


def run_gate(stack: ComposeStack, timeout_s: int) -> subprocess.CompletedProcess[str]:
    """infra/remote/gate.sh, the deploy's readiness gate, against this real stack."""
    env = {
        **stack.env,
        "CANNY_APP_DIR": str(COMPOSE_FILE.parent),
        "COMPOSE_PROJECT_NAME": stack.project,
        "CANNY_GATE_URL": f"{stack.url}/api/images?limit=1",
        "CANNY_GATE_TIMEOUT": str(timeout_s),
        "CANNY_GATE_INTERVAL": "1",
    }
    return subprocess.run(
        ["bash", str(GATE_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s + 60,
        check=False,
    )


def gateway_log_metrics(compose_stack: ComposeStack) -> str:
    """gateway-log-exporter's /metrics, fetched from inside the gateway (it publishes no
    port; bash's /dev/tcp, as the image has no HTTP client)."""
    fetch = (
        "exec 3<>/dev/tcp/gateway-log-exporter/3903"
        " && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    )
    return compose_stack.run("exec", "-T", "gateway", "bash", "-c", fetch)


def test_the_gateways_api_answers_are_counted_from_its_docker_log(
    compose_stack: ComposeStack, http: requests.Session
) -> None:
    """The monitoring profile's gateway-log-exporter reads the real daemon's json-file logs
    (this daemon's data-root is private, hence DOCKER_CONTAINERS_DIR) as root with no
    capabilities, and counts the gateway's API answers by status."""
    monitoring = ("--profile", "monitoring")
    containers_dir = compose_stack.daemon.cache / "root" / "containers"
    compose_stack.env["DOCKER_CONTAINERS_DIR"] = str(containers_dir)
    try:
        compose_stack.run(*monitoring, "up", "-d", "--no-build", "gateway-log-exporter")
        compose_stack.wait_healthy(("gateway-log-exporter",))
        counted = re.compile(r'^canny_gateway_api_responses_total\{status="200"\} [1-9]', re.M)
        metrics = ""
        deadline = time.monotonic() + LOG_METRICS_TIMEOUT_S
        while time.monotonic() < deadline and not counted.search(metrics):
            assert http.get(f"{compose_stack.url}/api/images?limit=1", timeout=10).ok
            time.sleep(1)
            metrics = gateway_log_metrics(compose_stack)
        assert counted.search(metrics), metrics[-2000:]
    finally:
        compose_stack.run(*monitoring, "rm", "-s", "-f", "gateway-log-exporter")
        del compose_stack.env["DOCKER_CONTAINERS_DIR"]


def test_deploy_gate_passes_on_the_healthy_stack(compose_stack: ComposeStack) -> None:
    gate = run_gate(compose_stack, timeout_s=60)
    assert gate.returncode == 0, f"gate refused a healthy stack:\n{gate.stdout}\n{gate.stderr}"
    assert "ready: every service healthy" in gate.stdout, gate.stdout


def test_deploy_gate_fails_with_diagnostics_when_a_backend_is_down(
    compose_stack: ComposeStack,
) -> None:
    replica = compose_stack.container("backend", 2).id
    compose_stack.daemon.docker("stop", replica)
    try:
        gate = run_gate(compose_stack, timeout_s=5)
    finally:
        compose_stack.daemon.docker("start", replica)
        compose_stack.wait_healthy()
    assert gate.returncode == 1, f"gate passed with backend #2 stopped:\n{gate.stdout}"
    assert "NOT READY" in gate.stderr, gate.stderr
    assert "service backend: exited" in gate.stderr, gate.stderr
    assert "--- compose ps" in gate.stderr and "--- compose logs" in gate.stderr, gate.stderr


def test_rollback_returns_to_the_previous_images_on_the_real_stack(
    compose_stack: ComposeStack, docker_daemon: PrivateDockerDaemon, tmp_path: Path
) -> None:
    """The deploy bundle laid out as on a droplet, the running tag known as broken and the
    previous one still on the host: rollback.sh brings the previous images up and passes
    the gate, although the registry cannot be reached."""
    for item in bundle_files():
        target = tmp_path / item.remote
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.local, target)
    for image in ("backend", "gateway"):
        for tag in ("broken", "previous"):
            source = (
                f"{compose_stack.env['REGISTRY_IMAGE']}/{image}:{compose_stack.env['IMAGE_TAG']}"
            )
            docker_daemon.docker("tag", source, f"{UNREACHABLE_REGISTRY}/{image}:{tag}")
    (tmp_path / ".env").write_text(f"REGISTRY_IMAGE={UNREACHABLE_REGISTRY}\nIMAGE_TAG=broken\n")
    (tmp_path / "image_tag").write_text("broken\n")
    (tmp_path / "image_tag.previous").write_text("previous\n")
    # The tag must come from the bundle's .env, as on a droplet, not from this test's env.
    env = {k: v for k, v in compose_stack.env.items() if k not in {"REGISTRY_IMAGE", "IMAGE_TAG"}}
    env |= {
        "CANNY_APP_DIR": str(tmp_path),
        "COMPOSE_PROJECT_NAME": compose_stack.project,
        "CANNY_GATE_URL": f"{compose_stack.url}/api/images?limit=1",
        "CANNY_GATE_TIMEOUT": "120",
        "CANNY_GATE_INTERVAL": "1",
    }
    try:
        result = subprocess.run(
            ["bash", str(tmp_path / "bin" / "rollback.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        running = {(c.service, c.number): c.image for c in compose_stack.containers()}
    finally:
        compose_stack.up()

    assert result.returncode == 0, f"rollback failed:\n{result.stdout}\n{result.stderr}"
    assert "rolled back to previous" in result.stdout, result.stdout
    previous_backend = f"{UNREACHABLE_REGISTRY}/backend:previous"
    expected = dict.fromkeys(expected_containers(("backend",)), previous_backend)
    assert running == expected | {("gateway", 1): f"{UNREACHABLE_REGISTRY}/gateway:previous"}, (
        f"containers after rollback: {running}"
    )
    assert (tmp_path / "image_tag").read_text() == "previous\n"
    assert (tmp_path / "image_tag.previous").read_text() == "broken\n"


def test_results_survive_down_and_up(compose_stack: ComposeStack, http: requests.Session) -> None:
    created = upload(http, compose_stack, seed=3)

    compose_stack.down()
    compose_stack.up()

    metadata = http.get(f"{compose_stack.url}/api/images/{created['id']}", timeout=10)
    assert metadata.status_code == 200, f"result gone after down/up: {metadata.status_code}"
    edges = http.get(f"{compose_stack.url}{created['edges_url']}", timeout=10)
    assert edges.status_code == 200, f"edge map gone after down/up: {edges.status_code}"
