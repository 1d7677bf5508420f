"""Bounded client load and fault injection for the resilience tests (loopback only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import requests

from bench import proc_stats
from localrun import LocalStack, processes
from tests.owner_keys_for_tests import issued_test_key

CLIENT_TIMEOUT_SECONDS = 30
# One owner for all the load, so a test can list what it uploaded.
OWNER = {"Authorization": f"Bearer {issued_test_key()}"}


def unique_png(index: int) -> bytes:
    """A small PNG with edges whose pixels encode `index`: every index is a new result."""
    image = np.full((24, 32, 3), 40, dtype=np.uint8)
    cv2.rectangle(image, (6, 5), (25, 18), (220, 200, 180), -1)
    image[0, :4, 0] = np.frombuffer(index.to_bytes(4, "big"), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok, "OpenCV could not encode a test image"
    return encoded.tobytes()


class Gateway(Protocol):
    """Anything with the gateway's URL: a LocalStack, or a `./run` started as a process."""

    url: str


def upload(
    stack: Gateway,
    data: bytes,
    session: requests.Session | None = None,
    owner: Mapping[str, str] = OWNER,
) -> requests.Response:
    post = session.post if session else requests.post
    return post(
        f"{stack.url}/api/images",
        files={"file": ("image.png", data, "image/png")},
        headers=owner,
        timeout=CLIENT_TIMEOUT_SECONDS,
    )


@dataclass
class BackgroundUploads:
    """Client threads that upload new images until stopped, at most `limit` in all. Each
    stored upload's id is kept with its answer's headers (which droplet or backend
    answered, for a fleet); `verify` is the CA file of a TLS entry such as a balancer."""

    stack: Gateway
    threads: int = 4
    limit: int = 3000
    pause_seconds: float = 0.01
    verify: str | bool = True
    # The test session's key by default; a service with a secret of its own (the
    # rehearsal's droplets) needs one it issued itself.
    owner: Mapping[str, str] = field(default_factory=lambda: OWNER)
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stored: dict[str, Mapping[str, str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def __enter__(self) -> BackgroundUploads:
        self._workers = [threading.Thread(target=self._work) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(CLIENT_TIMEOUT_SECONDS + 5)

    def _take_index(self) -> int | None:
        with self._lock:
            if self._next >= self.limit:
                return None
            self._next += 1
            return self._next

    def _work(self) -> None:
        with requests.Session() as session:
            session.trust_env = False  # loopback only: never through a proxy
            session.verify = self.verify
            while not self._stop.is_set():
                index = self._take_index()
                if index is None:
                    return
                self._send(session, index)
                time.sleep(self.pause_seconds)

    def _send(self, session: requests.Session, index: int) -> None:
        try:
            answer = upload(self.stack, unique_png(100_000 + index), session, self.owner)
        except requests.RequestException as error:
            with self._lock:
                self.failures.append(repr(error))
            return
        with self._lock:
            self.statuses.append(answer.status_code)
            if answer.status_code == 201:
                self.stored[answer.json()["id"]] = answer.headers
            else:
                self.failures.append(f"{answer.status_code} {answer.text[:200]}")

    @property
    def sent(self) -> int:
        with self._lock:
            return self._next

    @property
    def answered(self) -> int:
        with self._lock:
            return len(self.statuses) + len(self.failures)

    def stored_headers(self) -> list[Mapping[str, str]]:
        """The headers of every stored upload's answer so far, safe while uploads run."""
        with self._lock:
            return list(self.stored.values())

    def wait_for(self, more: int, timeout: float = 60) -> None:
        """Block until `more` further uploads have been answered."""
        target = self.answered + more
        deadline = time.monotonic() + timeout
        while self.answered < target:
            assert time.monotonic() < deadline, f"load stalled below {target} answers"
            assert self.sent < self.limit, "the bounded load ran out before the test finished"
            time.sleep(0.01)


def stop_backend_gracefully(stack: LocalStack, index: int) -> None:
    """SIGTERM a backend (gunicorn lets workers finish their requests), as a deploy does.
    LocalStack only offers a SIGKILL (kill_backend), so its process handle is used here."""
    backend = stack.backends[index]
    assert backend.process is not None, f"{backend.name} is not running"
    processes.stop(backend.process)
    backend.process = None


def backend_cpu_seconds(stack: LocalStack, index: int) -> float:
    pid = stack.backends[index].pid
    assert pid is not None, f"{stack.backends[index].name} is not running"
    return proc_stats.cpu_seconds(proc_stats.group_members([pid]))


def wait_until_busy(
    stack: LocalStack, candidates: list[int], done: Callable[[], bool], cpu_seconds: float = 0.03
) -> int:
    """The backend (index) that starts spending CPU: the one handling our request."""
    baseline = {index: backend_cpu_seconds(stack, index) for index in candidates}
    deadline = time.monotonic() + CLIENT_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not done():
        for index in candidates:
            if backend_cpu_seconds(stack, index) - baseline[index] >= cpu_seconds:
                return index
        time.sleep(0.005)
    raise AssertionError("no backend started working on the upload before it was answered")
