"""Waiting for a server to go quiet between measured runs."""

from __future__ import annotations

import time
from collections.abc import Callable

IDLE_CPU_SECONDS = 0.005
IDLE_POLL_SECONDS = 0.1


def wait_until_idle(cpu_seconds: Callable[[], float], timeout: float = 10.0) -> None:
    """Requests cut off when the client stopped still finish on the server: wait until its
    CPU stops moving so their cost lands in the run that caused it."""
    deadline = time.monotonic() + timeout
    previous = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(IDLE_POLL_SECONDS)
        current = cpu_seconds()
        if current - previous < IDLE_CPU_SECONDS:
            return
        previous = current
