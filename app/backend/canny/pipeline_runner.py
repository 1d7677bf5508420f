"""Runs the edge pipeline in child processes, so that a run over its time budget is stopped.

OpenCV's decoders cannot be interrupted from Python: a thread running `cv2.imdecode`
on a hostile file keeps its CPU and memory until libjpeg is done, minutes later. A child
process can be killed. Each worker keeps a few long-lived children and hands one an
upload through a pipe; when the answer is not back within the budget, that child gets
SIGKILL and a new one takes its place.

Why not a pool library: Pebble's ProcessPool does the same with a timeout per task, but
its manager threads poll (every 0.1 s), which delays every upload, and it stops a child
busy in C code only late (it sends SIGTERM, which its children handle in Python, i.e. only
after OpenCV returns, then SIGKILL after `term_timeout`). This pipe costs little per
upload, SIGKILL stops a child at once, and a new child is ready quickly (the figures:
docs/performance.md, "Levers kept" and "Measured and not kept").

The upload does not go through the pipe: the worker writes it into a memory file made for
that upload and passes the file's descriptor, and the child decodes from a mapping of it
(canny.upload_handover); the pipe carries the size, the parameters and the small result.

Children come from a forkserver that has already imported the pipeline, so a new child
is a fork of a small single-threaded process: not a fork of a threaded gunicorn worker
(unsafe: locks held by other threads), nor a fresh interpreter importing OpenCV again
(https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods,
`set_forkserver_preload`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from canny import pipeline
from canny.errors import (
    ApiError,
    ProcessingBudgetError,
    ProcessingFailedError,
    ProcessingInterruptedError,
    ServerBusyError,
)
from canny.pixel_budget import PixelBudget
from canny.upload_handover import received_upload, send_upload

if TYPE_CHECKING:
    # The children import this module (their loop is here) and must not load pydantic.
    from canny.edge_params import EdgeParams

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["canny.pipeline"])
# A child's start (the first one also starts the forkserver, which imports OpenCV) is
# not part of any upload's budget, but is bounded too.
STARTUP_SECONDS = 60.0
log = logging.getLogger(__name__)


def _serve(connection: Connection, opencv_threads: int) -> None:
    """The child's loop: one upload in, its result or its refusal out, until EOF."""
    # Its worker alone decides when it ends (SIGKILL, or EOF when the worker exits): a
    # SIGTERM or Ctrl-C sent to the whole process group, as a graceful stop of the backend
    # does, must not kill it under uploads the worker is still finishing.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forkserver child inherits none of its worker's settings: it runs the pipeline, so
    # it gets the pipeline's tuning (OpenCV threads, and the malloc thresholds that keep
    # freed image buffers for the next upload).
    pipeline.tune_process(opencv_threads)
    connection.send(None)  # ready
    while True:
        try:
            size, params, with_view = connection.recv()
        except EOFError:
            return
        connection.send(_answer(connection, size, params, with_view))


def _answer(
    connection: Connection, size: int, params: pipeline.CannyParams, with_view: bool
) -> tuple[bool, object]:
    """The pipeline's result for the upload the worker sent, or the error to raise there.

    The error goes back without its traceback: the traceback's frames would hold the view
    of the upload's mapping, which must be released before the mapping is closed."""
    with received_upload(connection, size) as data:
        try:
            return (True, pipeline.run(data, params, with_view))
        except ApiError as error:
            return (False, error.with_traceback(None))
        except Exception as error:  # a bug: the parent answers 500 and logs it
            return (False, RuntimeError(f"pipeline failed in the child: {error!r}"))


def _stop(process: BaseProcess, connection: Connection) -> None:
    process.kill()
    process.join()
    connection.close()


class _Child:
    def __init__(self, opencv_threads: int) -> None:
        self._connection, child_end = _CONTEXT.Pipe()
        # Daemonic, and stopped with SIGKILL by the finalizer below when the worker exits
        # (weakref.finalize runs at exit, before multiprocessing's own exit handler).
        self._process = _CONTEXT.Process(
            target=_serve,
            args=(child_end, opencv_threads),
            name="canny-pipeline",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._ready = False
        # A runner dropped without close() (an app a test made) still stops its children.
        self.stop = weakref.finalize(self, _stop, self._process, self._connection)

    def wait_ready(self) -> None:
        if self._ready:
            return
        if not self._connection.poll(STARTUP_SECONDS):
            raise ProcessingFailedError("the image processor did not start")
        self._connection.recv()
        self._ready = True

    def _died(self) -> ProcessingInterruptedError:
        """The child died under an upload: the OOM killer, an operator's kill, or a crash
        in a native decoder. Nothing says the file is at fault, so the answer is a
        retryable 503 (a 422 told the client its valid file was bad), and the death is
        logged for the operator, who otherwise saw nothing."""
        self._process.join(1.0)
        log.warning(
            "pipeline child %s died under an upload (exit code %s)",
            self._process.pid,
            self._process.exitcode,
        )
        return ProcessingInterruptedError(
            "the image processor stopped while working on this upload; try again"
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def run(
        self, data: bytes, params: EdgeParams, with_view: bool, budget_seconds: float
    ) -> pipeline.EdgeResult:
        try:
            self.wait_ready()
            self._connection.send((len(data), params.canny_params(), with_view))
            send_upload(self._connection, data)
        except (OSError, EOFError):
            raise self._died() from None
        if not self._connection.poll(budget_seconds):
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
    """One per worker process: `processes` children, a time budget per run, a pixel
    budget shared by the runs waiting for or holding a child, and at most `waiting` runs
    waiting beyond those the children are running.

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
        self.budget_seconds = budget_seconds
        self.processes = processes
        self.opencv_threads = opencv_threads
        self.waiting = waiting
        self.pixels = PixelBudget(pixel_budget)
        self._admitted = 0
        self._admission = threading.Lock()
        self._idle: queue.Queue[_Child] = queue.Queue()
        self._owner_pid = 0
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
        child = self._take_child(self._wait_left(deadline))
        try:
            return child.run(data, params, with_view, self.budget_seconds)
        except (ProcessingBudgetError, ProcessingFailedError, ProcessingInterruptedError):
            child.stop()
            child = _Child(self.opencv_threads)
            raise
        finally:
            self._idle.put(child)

    def start(self) -> None:
        """Start this process's children and wait until they are ready, so that no
        upload waits for OpenCV to be imported."""
        with self._lock:
            if self._owner_pid == os.getpid():
                return
            children = [_Child(self.opencv_threads) for _ in range(self.processes)]
            for child in children:
                child.wait_ready()
            self._idle = queue.Queue()
            for child in children:
                self._idle.put(child)
            self._owner_pid = os.getpid()

    def _take_child(self, timeout: float | None) -> _Child:
        """An idle child; children belong to the process that started them, so a
        gunicorn worker forked from a master that built the app starts its own."""
        self.start()
        try:
            return self._idle.get(timeout=None if timeout is None else max(timeout, 0.0))
        except queue.Empty:
            raise ServerBusyError("the image processor is busy; try again shortly") from None

    def child_pids(self) -> list[int]:
        """Pids of the idle children (for tests and diagnostics)."""
        return [child.pid for child in list(self._idle.queue) if child.pid is not None]

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().stop()
        self._owner_pid = 0
