"""A private dockerd (container tests, the rehearsal): own data-root, socket and pid,
stopped by pid.

The data-root lives in a cache outside the repository, so a second run on the same
machine reuses the base image and the build layers; a lock file keeps two test
sessions from sharing it at once. Socket, exec-root and log go to a fresh temp folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from localrun.readiness import wait_until

DEFAULT_CACHE = Path("/var/cache/canny-platform/docker")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
LOCK_TIMEOUT_S = 300


class DockerStartError(RuntimeError):
    """dockerd could not be started here; the message says why."""


class CommandError(RuntimeError):
    """A command exited non-zero; the message holds its output."""


def cache_dir() -> Path:
    """CANNY_DOCKER_CACHE moves the cache, e.g. to time a cold run in an empty folder."""
    return Path(os.environ.get("CANNY_DOCKER_CACHE") or DEFAULT_CACHE)


class PrivateDockerDaemon:
    def __init__(
        self,
        dockerd: str,
        docker: str,
        cache: Path,
        *,
        launcher: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
    ) -> None:
        """`launcher` runs dockerd elsewhere (a droplet's `nsenter --net=...`); `options` are
        extra dockerd flags (a droplet's insecure registry, its socket's group)."""
        self.dockerd = dockerd
        self.docker_cli = docker
        self.cache = cache
        self.launcher = launcher
        self.options = options
        # Unix socket paths are limited to ~100 bytes: keep them short, under /tmp.
        self.run_dir = Path(tempfile.mkdtemp(prefix="canny-dockerd-", dir="/tmp"))
        self.run_dir.chmod(0o755)
        self.socket = self.run_dir / "docker.sock"
        self.log_path = self.run_dir / "dockerd.log"
        self._process: subprocess.Popen | None = None
        self._lock: IO[str] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for docker and docker-compose: our socket, the classic builder
        (Debian's docker.io has no buildx), and no proxy between us and loopback."""
        env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
        env.update({"DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "0"})
        # Registry logins stay with this daemon, never in the user's ~/.docker.
        env["DOCKER_CONFIG"] = str(self.run_dir / "cli-config")
        return env

    def start(self) -> None:
        if os.geteuid() != 0:
            raise DockerStartError("dockerd needs root")
        self.cache.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        command = [
            *self.launcher,
            self.dockerd,
            *self.options,
            f"--data-root={self.cache / 'root'}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_ready()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=STOP_TIMEOUT_S)
            self._process = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._remove_run_dir()

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True, stdin: bytes | None = None
    ) -> str:
        """Run the docker CLI against this daemon; stdout on success, a full error otherwise."""
        return run_checked(
            [self.docker_cli, *args], env=self.env, timeout=timeout, check=check, stdin=stdin
        )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no dockerd log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _remove_run_dir(self) -> None:
        """containerd, dockerd's child, may still be removing its sockets for a moment
        after dockerd has exited: retry until the folder is gone (bounded)."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.run_dir.exists() and time.monotonic() < deadline:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            time.sleep(0.2)

    def _take_lock(self) -> None:
        """Wait (bounded) for another session on the same cache to finish."""
        lock = (self.cache / "lock").open("w")
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    raise DockerStartError(
                        f"another test session kept {self.cache} for {LOCK_TIMEOUT_S}s"
                    ) from None
                time.sleep(1)
            else:
                self._lock = lock
                return

    def _wait_until_ready(self) -> None:
        wait_until(
            "dockerd",
            self._answers,
            self._process,
            self.log_path,
            START_TIMEOUT_S,
            error=DockerStartError,
            pause=0.5,
        )

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        version = subprocess.run(
            [self.docker_cli, "version", "--format", "{{.Server.Version}}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return version.returncode == 0


def run_checked(
    command: list[str],
    *,
    env: dict[str, str],
    timeout: float,
    check: bool = True,
    cwd: Path | None = None,
    stdin: bytes | None = None,
) -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=timeout, check=False
    )
    stdout = result.stdout.decode(errors="replace")
    if check and result.returncode != 0:
        raise CommandError(
            f"{' '.join(command)} exited {result.returncode}:\n"
            f"{stdout[-3000:]}\n{result.stderr.decode(errors='replace')[-3000:]}"
        )
    return stdout
