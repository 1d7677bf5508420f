"""The naive peer under test: gunicorn with 2 sync workers serving bench/peer_app.py on a
free 127.0.0.1 port (no gateway), and its processes' CPU from /proc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import proc_stats
from bench.idle import wait_until_idle
from bench.peer_app import RESULTS_DIR_VARIABLE
from localrun import processes
from localrun.nginx_config import REPO_ROOT
from localrun.readiness import free_port, wait_until_ok

STARTUP_TIMEOUT_SECONDS = 60.0


def gunicorn_command(address: str) -> list[str]:
    """gunicorn's default worker class is sync: one request at a time per worker, and the
    connection is closed after each response (https://gunicorn.org/design, "Worker Types")."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers=2",
        "--worker-class=sync",
        f"--bind={address}",
        "bench.peer_app:create_peer_app()",
    ]


class Peer:
    """Start with `with Peer(run_dir) as peer:`; stopped (its whole group) on exit."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.results_dir = run_dir / "results"
        self.log_path = run_dir / "peer.log"
        self.address = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.address}"
        self._process = None
        self._cpu = proc_stats.GroupCpu()

    def __enter__(self) -> Peer:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, RESULTS_DIR_VARIABLE: str(self.results_dir)}
        self._process = processes.spawn(
            gunicorn_command(self.address), env=env, log_path=self.log_path, cwd=REPO_ROOT
        )
        try:
            wait_until_ok(
                "peer", self._process, self.url + "/healthz", self.log_path, STARTUP_TIMEOUT_SECONDS
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            processes.stop(self._process)
            self._process = None

    @property
    def pid(self) -> int:
        """The gunicorn master's pid, which is also its process group's id (see spawn)."""
        if self._process is None:
            raise RuntimeError("the peer is not running")
        return self._process.pid

    def cpu_seconds(self) -> float:
        """CPU of the gunicorn master and its workers, exited ones included."""
        return self._cpu.seconds([self.pid])

    def results_count(self) -> int:
        """Uploads processed so far: one edge map per upload."""
        with os.scandir(self.results_dir) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".png"))

    def wait_until_idle(self) -> None:
        wait_until_idle(self.cpu_seconds)
