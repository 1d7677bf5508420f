"""The service under test: a LocalStack in a temporary folder, and its processes' /proc figures."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from canny.pipeline_pool import SUPERVISOR_NAME

from bench import proc_stats
from bench.idle import wait_until_idle
from bench.orphans import adopt_orphans, reap_sampled_zombies
from bench.proc_stats import GroupCpu, Memory, ProcStat
from localrun import LocalStack

# Far above anything the bench sends: it measures the service, not the rate limiter.
UNLIMITED_RATE = "100000r/s"
UNLIMITED_BURST = 100000
# nginx refuses a limit_conn of 65536 or more ("connection limit must be less 65536",
# ngx_http_limit_conn_module.c); the bench never holds a thousandth of it.
UNLIMITED_CONNECTIONS = 65535


def gunicorn_workers(masters: Iterable[int], proc: Path = proc_stats.PROC) -> list[ProcStat]:
    """The children of these gunicorn masters that are workers: a master's other child is
    its backend's pipeline supervisor (canny.pipeline_pool), whose children are shared."""
    wanted = set(masters)
    return [
        member
        for member in proc_stats.group_members(wanted, proc)
        if member.ppid in wanted and member.comm != SUPERVISOR_NAME
    ]


class Service:
    """nginx (master and workers) and both gunicorn backends (masters and workers)."""

    def __init__(self, run_dir: Path) -> None:
        self.stack = LocalStack(
            run_dir,
            0,
            upload_rate=UNLIMITED_RATE,
            upload_burst=UNLIMITED_BURST,
            connections_per_key=UNLIMITED_CONNECTIONS,
            connections_per_address=UNLIMITED_CONNECTIONS,
        )
        self.peak_worker_rss_mb = 0.0
        self._cpu = GroupCpu()
        # The first backend's processes alone, for the run that drives it directly.
        self._first_backend_cpu = GroupCpu()

    def __enter__(self) -> Service:
        adopt_orphans()
        self.stack.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stack.stop()

    @property
    def url(self) -> str:
        return self.stack.url

    def _nginx_pid(self) -> int:
        return int(Path(self.stack.gateway_values()["CANNY_PID_FILE"]).read_text().strip())

    def _backend_pids(self) -> list[int]:
        return [backend.pid for backend in self.stack.backends if backend.pid is not None]

    def cpu_seconds(self) -> float:
        """CPU used so far by every server process (each runs in its own process group),
        including processes that have exited, such as a recycled worker's children."""
        groups = [self._nginx_pid(), *self._backend_pids()]
        seconds = self._cpu.seconds(groups)
        reap_sampled_zombies(self._cpu.members)
        return seconds

    @property
    def first_backend_url(self) -> str:
        """The first backend's own address, past the gateway and its balancing."""
        return f"http://{self.stack.backends[0].address}"

    def first_backend_cpu_seconds(self) -> float:
        """CPU used so far by the first backend's processes (master, workers, children)."""
        pid = self.stack.backends[0].pid
        if pid is None:
            raise RuntimeError("the first backend is not running")
        return self._first_backend_cpu.seconds([pid])

    def worker_memory(self) -> dict[int, Memory]:
        """gunicorn workers (children of a backend master) by pid; also tracks the peak."""
        workers = {}
        for member in gunicorn_workers(self._backend_pids()):
            memory = proc_stats.read_memory(member.pid)
            if memory is not None:
                workers[member.pid] = memory
        for memory in workers.values():
            self.peak_worker_rss_mb = max(self.peak_worker_rss_mb, memory.peak_rss_mb)
        return workers

    def results_count(self) -> int:
        """Results stored so far: one metadata file per processed upload."""
        with os.scandir(self.stack.results_dir) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".json"))

    def wait_until_idle(self) -> None:
        wait_until_idle(self.cpu_seconds)
