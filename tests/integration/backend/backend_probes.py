"""Samplers the heavy-upload tests run beside their uploads: a read probe (the gallery's list
answers meanwhile) and the backends' memory (PSS of every process of each backend)."""

import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

import requests

from bench.proc_stats import group_members
from localrun import LocalStack


class PeriodicSampler(ABC):
    """Calls sample() every `interval_seconds` from its own thread inside a `with` block."""

    interval_seconds = 0.05

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @abstractmethod
    def sample(self) -> None:
        """Take one sample."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_seconds)


class ReadProbe(PeriodicSampler):
    """Lists images every 50 ms; keeps each read's latency."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__()
        self.stack = stack
        self.latencies: list[float] = []
        self.failures: list[int] = []

    def sample(self) -> None:
        started = time.monotonic()
        response = requests.get(f"{self.stack.url}/api/images?limit=5", timeout=30)
        self.latencies.append(time.monotonic() - started)
        if response.status_code != 200:
            self.failures.append(response.status_code)


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared by forked processes (the pipeline children
    share OpenCV with their forkserver) count once in a sum, unlike RSS
    (https://www.kernel.org/doc/html/latest/filesystems/proc.html, smaps_rollup)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # the process exited between listing and reading
        return 0.0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


class BackendMemory(PeriodicSampler):
    """Samples the summed PSS of every backend process (masters, workers, pipeline
    children and their forkservers: one process group per backend) every 100 ms."""

    interval_seconds = 0.1

    def __init__(self, stack: LocalStack) -> None:
        super().__init__()
        self.groups = [backend.pid for backend in stack.backends]
        self.peak_mb = 0.0

    def total_mb(self) -> float:
        members = group_members(pid for pid in self.groups if pid is not None)
        return sum(pss_mb(member.pid) for member in members)

    def sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self.total_mb())
