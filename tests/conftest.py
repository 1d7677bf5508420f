"""Fixtures every suite shares: free loopback ports and tools that must exist under CI."""

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from localrun import LocalStack
from localrun.readiness import free_port as pick_free_port
from tests.owner_keys_for_tests import TEST_OWNER_KEY_SECRET

# Debian's binaries `./run --monitoring` starts beside the app (localrun/monitoring.py).
MONITORING_TOOLS = (
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-nginx-exporter",
    "prometheus-node-exporter",
    "mtail",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing_tool(reason: str) -> None:
    """Skip outside CI; under CI a missing tool is a broken install, so fail loudly."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str], str]:
    """Return a function that gives the path of an executable or skips/fails the test."""

    def find(name: str) -> str:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if path is None:
            missing_tool(f"{name} is not installed")
        return path

    return find


@pytest.fixture(scope="session", autouse=True)
def owner_key_secret() -> Iterator[str]:
    """Session-wide, so it is set before any module's stack starts its backends."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CANNY_OWNER_KEY_SECRETS", TEST_OWNER_KEY_SECRET)
        yield TEST_OWNER_KEY_SECRET


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


@pytest.fixture
def no_owner_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends started in this test keep any number of results per owner key (they take
    their settings from the environment): load tests store thousands under one key."""
    monkeypatch.setenv("CANNY_OWNER_MAX_RESULTS", "0")


# The gateway's per-address and per-key limits, raised far above what a bounded test sends,
# for LocalStack(...) in tests that measure failures, not 429s.
UNTHROTTLED = {
    "upload_rate": "1000r/s",
    "upload_burst": 1000,
    "connections_per_key": 1000,
    "connections_per_address": 1000,
}


@pytest.fixture
def local_stack(
    tmp_path: Path, require_tool: Callable[[str], str], no_owner_quota: None
) -> Iterator[LocalStack]:
    """The whole app (nginx gateway, two gunicorn backends) on a free 127.0.0.1 port,
    state in tmp_path, stopped after the test. The upload rate limit is raised far above
    what a bounded test sends, and so are the uploads in flight per key and address and
    the results per key, so load and fault tests measure failures, not 429s or 507s."""
    require_tool("nginx")
    stack = LocalStack(tmp_path / "stack", pick_free_port(), **UNTHROTTLED)
    with stack:
        yield stack


@pytest.fixture
def tmpfs(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> Iterator[Callable[[str, str], Path]]:
    """Mount a tmpfs of its own at tmp_path/<name> with mount(8) options such as
    `size=1m`: a disk a test can fill, or remount read-only to stop even root (a chmod
    would not, and CI runs as root). Needs root; every mount is undone after the test."""
    mount = require_tool("mount")
    mounted: list[Path] = []

    def mount_tmpfs(name: str, options: str) -> Path:
        mount_point = tmp_path / name
        mount_point.mkdir()
        made = subprocess.run(
            [mount, "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            missing_tool(f"cannot mount a tmpfs (needs root): {made.stderr.strip()}")
        mounted.append(mount_point)
        return mount_point

    yield mount_tmpfs
    for mount_point in reversed(mounted):
        subprocess.run([require_tool("umount"), "--lazy", str(mount_point)], check=True)


class LoopbackHttpServer(ThreadingHTTPServer):
    """A stand-in HTTP service on a free 127.0.0.1 port, served from a thread for the
    length of a `with` block, then shut down."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
