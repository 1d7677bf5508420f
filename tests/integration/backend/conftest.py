"""`backend_server`: the real backend under gunicorn (2 workers) on a free loopback port."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from tests.conftest import pick_free_port

BACKEND_DIR = Path(__file__).resolve().parents[3] / "app" / "backend"
STARTUP_SECONDS = 30
SHUTDOWN_SECONDS = 30


@dataclass(frozen=True)
class BackendServer:
    url: str
    results_dir: Path
    log_path: Path
    # gunicorn's master, which leads the backend's process group (start_new_session).
    pid: int = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_until_ready(process: subprocess.Popen[bytes], server: BackendServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.log()}")
        try:
            if requests.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            # The master starts the pipeline children before any worker accepts: until
            # then a connection waits in the listen backlog and the probe times out.
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn not ready after {STARTUP_SECONDS} s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Graceful SIGTERM first; the process group is killed only if that hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=SHUTDOWN_SECONDS)


def _launch(
    server: BackendServer, port: int, workdir: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "CANNY_BIND": f"127.0.0.1:{port}",
        "CANNY_WORKERS": "2",
        "CANNY_THREADS": "2",
        "CANNY_RESULTS_DIR": str(server.results_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(BACKEND_DIR / "gunicorn.conf.py"),
        "canny:create_app()",
    ]
    with server.log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=log, stderr=log, start_new_session=True
        )


@pytest.fixture
def start_backend(tmp_path: Path) -> Iterator[Callable[..., BackendServer]]:
    """Start gunicorn with extra environment (e.g. CANNY_RESULTS_DIR on a tiny tmpfs);
    every server started is stopped when the test ends."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> BackendServer:
        workdir = tmp_path / f"backend-{len(processes)}"
        workdir.mkdir()
        port = pick_free_port()
        server = BackendServer(
            url=f"http://127.0.0.1:{port}",
            results_dir=Path(env.get("CANNY_RESULTS_DIR", workdir / "results")),
            log_path=workdir / "gunicorn.log",
        )
        processes.append(_launch(server, port, workdir, env))
        _wait_until_ready(processes[-1], server)
        return replace(server, pid=processes[-1].pid)

    try:
        yield start
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture
def backend_server(start_backend: Callable[..., BackendServer]) -> BackendServer:
    """A backend with default settings and its own results directory."""
    return start_backend()
