"""`backend_server`: the real backend under gunicorn (2 workers) on a free loopback port."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
        except requests.ConnectionError:
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


@pytest.fixture
def backend_server(tmp_path: Path) -> Iterator[BackendServer]:
    port = pick_free_port()
    server = BackendServer(
        url=f"http://127.0.0.1:{port}",
        results_dir=tmp_path / "results",
        log_path=tmp_path / "gunicorn.log",
    )
    env = {
        **os.environ,
        "CANNY_BIND": f"127.0.0.1:{port}",
        "CANNY_WORKERS": "2",
        "CANNY_THREADS": "2",
        "CANNY_RESULTS_DIR": str(server.results_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
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
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        _wait_until_ready(process, server)
        yield server
    finally:
        _stop(process)
