"""Runs the edge pipeline in child processes, so that a run over its time budget is stopped.

OpenCV's decoders cannot be interrupted from Python: a thread running `cv2.imdecode`
on a hostile file keeps its CPU and memory until libjpeg is done, minutes later. A child
process can be killed. The children are the backend's, shared by its workers
(canny.pipeline_pool): a run connects to them, and the first free child takes it and
sends the worker its pid and a pidfd; when the answer is not back within the budget, the
worker kills that child with SIGKILL and the pool starts a new one in its place.

Why not a pool library: Pebble's ProcessPool does the same with a timeout per task, but
its manager threads poll (every 0.1 s), which delays every upload, and it stops a child
busy in C code only late (it sends SIGTERM, which its children handle in Python, i.e. only
after OpenCV returns, then SIGKILL after `term_timeout`). A socket costs little per
upload, SIGKILL stops a child at once, and a new child is ready quickly (the figures:
docs/performance.md, "Levers kept" and "Measured and not kept"). Nor gunicorn's own
"dirty arbiter" (gunicorn/dirty/): it forwards each request through a middle process as
JSON, so an upload would be copied twice, and it kills a stuck worker only on a missed
heartbeat, not at a run's budget.

The upload does not go through the socket: the worker writes it into a memory file made
for that upload and passes the file's descriptor, and the child decodes from a mapping of
it (canny.upload_handover); the socket carries the size, the parameters and the small
result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import reduction
from multiprocessing.connection import Client, Connection
from typing import TYPE_CHECKING

from canny import pipeline
from canny.errors import (
    ProcessingBudgetError,
    ProcessingInterruptedError,
    ServerBusyError,
)
from canny.pipeline_pool import PipelinePool, default_processes
from canny.pixel_budget import PixelBudget
from canny.upload_handover import send_upload

if TYPE_CHECKING:
    from canny.edge_params import EdgeParams

log = logging.getLogger(__name__)


def _nothing() -> None:
    """What a lost pool calls by default: the run's 503 and error log are all."""


class _ChildRun:
    """One run's hold on a shared child, from the child taking the connection to its
    answer: the socket, and the child's pid (for the logs) and pidfd (to kill it)."""

    def __init__(
        self, address: str, wait_seconds: float | None, on_pool_lost: Callable[[], None]
    ) -> None:
        try:
            self._connection: Connection = Client(address, "AF_UNIX")
        except OSError as error:
            # No child listens (ECONNREFUSED, or ENOENT: a full backlog would block, not
            # fail, unix(7)): the pool is gone. Not the file's fault, and the gateway or
            # the client may find another backend.
            log.error("no pipeline child to connect to at %s: %s", address, error)
            on_pool_lost()
            raise ProcessingInterruptedError(
                "the image processor is not running; try again"
            ) from None
        self.pid = 0
        self._pidfd = -1
        try:
            if not self._connection.poll(None if wait_seconds is None else max(wait_seconds, 0)):
                raise ServerBusyError("the image processor is busy; try again shortly")
            self.pid = self._connection.recv()
            self._pidfd = reduction.recv_handle(self._connection)
        except (EOFError, OSError):
            self.close()
            raise self._died() from None
        except ServerBusyError:
            self.close()
            raise

    def close(self) -> None:
        self._connection.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def _died(self) -> ProcessingInterruptedError:
        """The child died under an upload: the OOM killer, an operator's kill, or a crash
        in a native decoder. Nothing says the file is at fault, so the answer is a
        retryable 503 (a 422 told the client its valid file was bad), and the death is
        logged for the operator, who otherwise saw nothing (its exit code is in the pool
        supervisor's log line)."""
        log.warning("pipeline child %s died under an upload", self.pid or "(unknown)")
        return ProcessingInterruptedError(
            "the image processor stopped while working on this upload; try again"
        )

    def run(
        self, data: bytes, params: EdgeParams, with_view: bool, budget_seconds: float
    ) -> pipeline.EdgeResult:
        try:
            self._connection.send((len(data), params.canny_params(), with_view))
            send_upload(self._connection, data)
        except (OSError, EOFError):
            raise self._died() from None
        if not self._connection.poll(budget_seconds):
            # The pidfd names this child even if it has just ended on its own (then the
            # kernel answers ESRCH) and its pid was given to another process.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            raise ProcessingBudgetError(
                f"processing the image took longer than the budget of {budget_seconds:g} s"
                " and was stopped"
            )
        try:
            ok, value = self._connection.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if not ok:
            raise value
        return value


class PipelineRunner:
    """One per worker process: runs in the backend's shared children, a time budget per
    run, a pixel budget shared by this worker's runs waiting for or holding a child, and at
    most `processes` + `waiting` runs admitted at once.

    Why bounded: with 16 threads per worker and nothing else in the way, one client's 16
    large uploads queued here and a second client's small one waited behind them all
    (docs/performance-levers.md, Figures behind the code's design choices). A
    full queue answers 503 with Retry-After at once, for the client to send again (the
    gateway does not retry it: see proxy_next_upstream in its template), and no wait outlasts the
    request's deadline less the processing budget, so what starts always ends in time.
    """

    def __init__(
        self,
        budget_seconds: float,
        processes: int,
        pixel_budget: int,
        opencv_threads: int = 1,
        waiting: int = 0,
    ) -> None:
        """`processes`: the children of the pool this runner starts when it is given none
        (0: one per core)."""
        self.budget_seconds = budget_seconds
        self.processes = processes or default_processes()
        self.opencv_threads = opencv_threads
        self.waiting = waiting
        self.pixels = PixelBudget(pixel_budget)
        self._admitted = 0
        self._admission = threading.Lock()
        self._pool: PipelinePool | None = None
        self._owns_pool = False
        self._on_pool_lost: Callable[[], None] = _nothing
        self._lock = threading.Lock()

    def run(
        self,
        data: bytes,
        params: EdgeParams,
        pixels: int,
        with_view: bool = False,
        deadline: float | None = None,
    ) -> pipeline.EdgeResult:
        """The pipeline's result, computed in a child; ProcessingBudgetError when it ran
        out of time (the child is then killed and replaced). `deadline` (time.monotonic())
        bounds the wait for pixels and a child: ServerBusyError when the run could not
        start early enough to finish by then, or when the queue is full."""
        with self._admitted_run(), self.pixels.reserve(pixels, self._wait_left(deadline)):
            return self._run_in_child(data, params, with_view, deadline)

    def _wait_left(self, deadline: float | None) -> float | None:
        """Seconds a run may still wait and finish within its budget by `deadline`."""
        if deadline is None:
            return None
        return deadline - self.budget_seconds - time.monotonic()

    @contextlib.contextmanager
    def _admitted_run(self) -> Iterator[None]:
        with self._admission:
            if self._admitted >= self.processes + self.waiting:
                raise ServerBusyError("the image processor is busy; try again shortly")
            self._admitted += 1
        try:
            yield
        finally:
            with self._admission:
                self._admitted -= 1

    def _run_in_child(
        self, data: bytes, params: EdgeParams, with_view: bool, deadline: float | None
    ) -> pipeline.EdgeResult:
        child = _ChildRun(self.start(), self._wait_left(deadline), self._on_pool_lost)
        try:
            return child.run(data, params, with_view, self.budget_seconds)
        finally:
            child.close()

    def start(
        self, pool: PipelinePool | None = None, on_pool_lost: Callable[[], None] = _nothing
    ) -> str:
        """Use `pool` (the backend's, which gunicorn's master started: gunicorn.conf.py),
        or else start a pool of this runner's own and wait until it is ready, so that no
        upload waits for OpenCV to be imported. The address runs connect to.

        `on_pool_lost` is called when a run finds no child listening any more (the
        supervisor was killed, and its children with it), for the backend to restart."""
        with self._lock:
            if self._pool is None:
                self._on_pool_lost = on_pool_lost
                self._owns_pool = pool is None
                self._pool = pool or PipelinePool.start(self.processes, self.opencv_threads)
                # Admission counts the children this runner's uploads may run in.
                self.processes = self._pool.processes
            return self._pool.address

    def child_pids(self) -> list[int]:
        """Pids of the pool's children (for tests and diagnostics)."""
        return [] if self._pool is None else self._pool.child_pids()

    def close(self) -> None:
        """Stop the pool this runner started; a shared pool is its starter's to stop."""
        with self._lock:
            if self._pool is not None and self._owns_pool:
                self._pool.close()
            self._pool = None
