"""Waiting for a local server to answer: shared by the app stack and local monitoring."""

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

# No proxy from the environment may sit between us and our own loopback servers.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StartupError(RuntimeError):
    """A process of the local stack did not come up; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(url: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with _LOOPBACK.open(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"({path} was not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    name: str,
    ready: Callable[[], bool],
    process: subprocess.Popen | None,
    log_path: Path,
    timeout: float,
    error: type[Exception] = StartupError,
    pause: float = 0.1,
) -> None:
    """Poll `ready()` until it is true; fail early with the log when the process exits,
    with `error` (the caller's own kind of startup failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is None or process.poll() is not None:
            raise error(f"{name} exited while starting:\n{log_tail(log_path)}")
        if ready():
            return
        time.sleep(pause)
    raise error(f"{name} not ready after {timeout:.0f}s:\n{log_tail(log_path)}")


def wait_until_ok(
    name: str, process: subprocess.Popen | None, url: str, log_path: Path, timeout: float
) -> None:
    """Poll url until it answers 200; fail early with the log when the process exits."""
    wait_until(f"{name} at {url}", lambda: status_of(url) == 200, process, log_path, timeout)
