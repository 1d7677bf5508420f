"""`./run` and `python -m localrun` as a user meets them: a URL, a clear refusal when one
already runs or the port is taken, and nothing left behind however it is stopped."""

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from localrun.nginx_config import REPO_ROOT
from tests.conftest import MONITORING_TOOLS, pick_free_port
from tests.integration.gateway.local_run_process import (
    LOCALRUN,
    local_run,
    process_tree,
    read_until,
    run_until_exit,
    wait_until_gone,
)


@pytest.fixture
def running(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[tuple]:
    """`python -m localrun` up and answering; killed (with its tree) if the test did not stop it."""
    require_tool("nginx")
    port = pick_free_port()
    with local_run(LOCALRUN, tmp_path, port) as process:
        read_until(process, "Press Ctrl-C to stop", timeout=90)
        yield process, port, process_tree(process.pid)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_every_process(running: tuple, stop_signal: int) -> None:
    process, port, tree = running
    assert len(tree) >= 6, f"expected nginx and two gunicorns with workers, found {tree}"
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    process.send_signal(stop_signal)
    assert process.wait(timeout=60) == 0
    assert not wait_until_gone(tree), "processes outlived the local run"


def test_sigint_stops_a_run_that_inherited_it_ignored(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """A run started in the background by a script inherits SIGINT ignored (POSIX: a
    non-interactive shell's `&`); Ctrl-C or `kill -INT` must still stop it."""
    require_tool("nginx")
    ignoring_sigint = ["bash", "-c", "trap '' INT; exec \"$@\"", "bash", *LOCALRUN]
    with local_run(ignoring_sigint, tmp_path, pick_free_port()) as process:
        read_until(process, "Press Ctrl-C to stop", timeout=90)
        tree = process_tree(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not wait_until_gone(tree)


def test_monitoring_runs_beside_the_app_and_stops_with_it(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    for tool in ("nginx", *MONITORING_TOOLS):
        require_tool(tool)
    prometheus_port = pick_free_port()
    alertmanager_port = pick_free_port()
    command = [*LOCALRUN, "--monitoring", "--monitoring-port", str(prometheus_port)]
    command += ["--alertmanager-port", str(alertmanager_port)]
    with local_run(command, tmp_path, pick_free_port()) as process:
        output = read_until(process, "Press Ctrl-C to stop", timeout=120)
        assert f"Prometheus: http://127.0.0.1:{prometheus_port}" in output
        assert f"Alertmanager: http://127.0.0.1:{alertmanager_port}" in output
        for port in (prometheus_port, alertmanager_port):
            ready = requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=10)
            assert ready.status_code == 200, f"port {port}: {ready.status_code}"
        tree = process_tree(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not wait_until_gone(tree), "monitoring processes outlived the local run"


def test_children_die_with_a_killed_local_run(running: tuple) -> None:
    process, _, tree = running
    process.kill()
    process.wait(timeout=10)
    assert not wait_until_gone(tree), "SIGKILL of the local run left orphans"


def test_a_second_run_says_one_is_already_running(running: tuple, tmp_path: Path) -> None:
    process, port, _ = running
    second = run_until_exit(tmp_path, pick_free_port())
    assert second.returncode == 1
    assert "already running" in second.stderr, second.stderr
    assert f"pid {process.pid}" in second.stderr and f":{port}" in second.stderr
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200


def test_a_taken_port_is_named_and_nothing_is_left(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("nginx")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_until_exit(tmp_path, port)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr, result.stderr


def test_run_script_bootstraps_and_serves(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """The bash entry point: package checks, venv, install, then the same local run."""
    require_tool("nginx")
    port = pick_free_port()
    with local_run([str(REPO_ROOT / "run")], tmp_path, port) as process:
        output = read_until(process, "Press Ctrl-C to stop", timeout=240)
        assert f"running at http://127.0.0.1:{port}" in output
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Canny edge detection" in page.text
        tree = process_tree(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not wait_until_gone(tree)


def fake_command(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.mark.parametrize(
    ("uid", "expected_output", "apt_called"),
    [
        ("1000", "install them as root (apt-get install python3 python3-venv nginx)", False),
        ("0", "== apt: installing python3 python3-venv nginx", True),
    ],
)
def test_run_script_installs_missing_packages_only_as_root(
    tmp_path: Path, uid: str, expected_output: str, apt_called: bool
) -> None:
    """On a bare Debian: as root apt installs them; as anyone else ./run says what to do.
    dpkg-query, id and apt-get are stand-ins on PATH, so nothing is really installed."""
    fake_command(tmp_path, "dpkg-query", "exit 1")
    fake_command(tmp_path, "id", f"echo {uid}")
    # update succeeds, install fails: ./run must stop there.
    fake_command(tmp_path, "apt-get", f'echo "$@" >> {tmp_path}/apt.log; [ "$1" = update ]')
    result = subprocess.run(
        [str(REPO_ROOT / "run")],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert expected_output in result.stdout + result.stderr
    apt_log = tmp_path / "apt.log"
    assert apt_log.exists() == apt_called
    if apt_called:
        assert "install -y -q --no-install-recommends python3 python3-venv nginx" in (
            apt_log.read_text()
        )


def test_one_upload_limit_for_run_sets_page_gateway_and_backend(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    """CANNY_MAX_UPLOAD_BYTES given to the local run is the limit everywhere: the page's
    (it reads /api/config), the backends' and the gateway's body limit derived from it."""
    require_tool("nginx")
    limit = 50_000
    port = pick_free_port()
    env = {**os.environ, "CANNY_MAX_UPLOAD_BYTES": str(limit)}
    url = f"http://127.0.0.1:{port}"

    def post(size: int) -> requests.Response:
        body = {"file": ("big.png", b"\0" * size, "image/png")}
        return requests.post(f"{url}/api/images", files=body, timeout=30)

    with local_run(LOCALRUN, tmp_path, port, env) as process:
        read_until(process, "Press Ctrl-C to stop", timeout=90)
        config = requests.get(f"{url}/api/config", timeout=10).json()
        assert config["max_upload_bytes"] == limit, "the page would check another limit"
        at_limit = post(limit)
        assert at_limit.status_code == 400, "zeros at the limit reach the backend's image check"
        over = post(limit + 1)
        assert over.status_code == 413
        assert f"limit of {limit} bytes" in over.json()["error"]["message"], "backend limit"
        # Far over: nginx refuses it itself, naming its derived body limit (+64 KiB).
        far_over = post(limit + 70_000)
        assert far_over.status_code == 413
        assert f"({limit + 65_536} bytes)" in far_over.json()["error"]["message"], "gateway"
