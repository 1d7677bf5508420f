"""A backend's pipeline children, shared by all its workers and fed from one queue.

Each gunicorn worker used to own one child, and a kept-alive connection stays with one
worker, so one child queued uploads while the other idled (issue 31: 6-15 % of the cores
idle at 1080p, 12-26 % at 4K). Here the children of a backend are shared: they all block
in accept(2) on one listening Unix socket, and a worker hands over an upload by connecting
to it. A connection waits in the socket's backlog until a child is free, and the kernel
gives it to the next child that calls accept, so no child idles while an upload waits.

Who starts them: gunicorn's master, before it forks the workers (gunicorn.conf.py,
`when_ready`); in a process without gunicorn (tests, a Flask app a script builds) the
pipeline runner starts a pool of its own. The pool is a supervisor process and its
children: the supervisor forks them (it has imported the pipeline, so a child is ready
as soon as it is tuned), waits for any of them to end and forks a replacement. The
master does not parent the children: gunicorn's arbiter reaps every child of the master
(`os.waitpid(-1, ...)` in Arbiter.reap_workers, gunicorn/arbiter.py) and would take their
exit statuses, so the supervisor comes from multiprocessing's forkserver.

How it ends: the supervisor and the children ignore SIGTERM and SIGINT (a graceful stop
signals the whole process group, and workers still finishing uploads need the children),
and each dies with its parent (PR_SET_PDEATHSIG, prctl(2)): close() kills the supervisor,
which takes the children with it; a master killed outright takes its forkserver with it
(the forkserver exits when the last process holding its pipe ends), and so the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import select
import shutil
import signal
import socket
import tempfile
import weakref
from multiprocessing import reduction
from multiprocessing.connection import Connection, Listener
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from canny.errors import ApiError
from canny.upload_handover import received_upload

if TYPE_CHECKING:
    # gunicorn's master imports this module to start the pool and must not load OpenCV:
    # the pipeline is imported by the forkserver, and by name only where it runs.
    from canny.pipeline import CannyParams

_CONTEXT = multiprocessing.get_context("forkserver")
# The forkserver imports the pipeline (OpenCV) once; the supervisor it forks has it, and so
# does every child the supervisor forks
# (https://docs.python.org/3/library/multiprocessing.html#multiprocessing.set_forkserver_preload).
_CONTEXT.set_forkserver_preload(["canny.pipeline"])
# Starting the pool (the first start also starts the forkserver, which imports OpenCV) is
# not part of any upload's budget, but is bounded too.
STARTUP_SECONDS = 60.0
# Uploads that may wait in the socket's backlog for a child. Each worker admits at most
# CANNY_PIPELINE_PROCESSES + CANNY_PIPELINE_QUEUE runs, so this is never the limit; a full
# backlog would block connect(2) instead of queueing (unix(7)). listen(2) caps it at
# net.core.somaxconn.
BACKLOG = socket.SOMAXCONN
# From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def default_processes() -> int:
    """One child per core this process may run on (sched_getaffinity(2), which a
    container's cpuset narrows, unlike os.cpu_count())."""
    return len(os.sched_getaffinity(0))


def _die_with_parent() -> None:
    """SIGKILL when the parent ends; at once if it already has (prctl(2): the setting does
    not cover a parent that died before the call, whose orphan has a new parent)."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


class PipelinePool:
    """The supervisor of `processes` children and the address workers connect to."""

    def __init__(self, address: str, processes: int, supervisor: BaseProcess) -> None:
        self.address = address
        self.processes = processes
        self._supervisor = supervisor
        # A pool dropped without close() (a runner a test made) still stops its children;
        # weakref.finalize runs at exit, before multiprocessing's own exit handler, which
        # would otherwise wait forever for a supervisor that ignores SIGTERM.
        self.close = weakref.finalize(self, _stop, supervisor, str(Path(address).parent))

    @classmethod
    def start(cls, processes: int, opencv_threads: int) -> PipelinePool:
        """Start the supervisor and its children and wait until they are forked and tuned,
        so that no upload waits for OpenCV to be imported."""
        if processes < 1:
            raise ValueError("a pipeline pool needs at least one process")
        # A private directory (0700, mkdtemp): only this user's processes may hand uploads
        # to the children.
        address = str(Path(tempfile.mkdtemp(prefix="canny-pipeline-")) / "children.sock")
        ready, ready_child_end = _CONTEXT.Pipe(duplex=False)
        supervisor = _CONTEXT.Process(
            target=_supervise,
            args=(address, processes, opencv_threads, ready_child_end),
            name="canny-pipeline-supervisor",
            daemon=True,
        )
        supervisor.start()
        ready_child_end.close()
        pool = cls(address, processes, supervisor)
        if not ready.poll(STARTUP_SECONDS):
            pool.close()
            raise RuntimeError("the pipeline children did not start")
        try:
            ready.recv()
        except EOFError:
            pool.close()
            raise RuntimeError("the pipeline supervisor failed to start") from None
        finally:
            ready.close()
        return pool

    def child_pids(self) -> list[int]:
        """The children's pids, as the kernel lists the supervisor's children (proc(5),
        /proc/pid/task/tid/children; the supervisor has one thread)."""
        pid = self._supervisor.pid
        try:
            listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(child) for child in listed.split()]


def _stop(supervisor: BaseProcess, directory: str) -> None:
    supervisor.kill()
    supervisor.join()
    shutil.rmtree(directory, ignore_errors=True)


def _supervise(address: str, processes: int, opencv_threads: int, ready: Connection) -> None:
    """Keep `processes` children serving the listening socket: replace any that ends."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _log_as_json()
    listener = Listener(address, "AF_UNIX", backlog=BACKLOG)
    children = {}
    for _ in range(processes):
        pid = _fork_child(listener, opencv_threads)
        children[os.pidfd_open(pid)] = pid
    ready.send(None)
    ready.close()
    while True:
        # A pidfd is readable once its process has ended (pidfd_open(2)).
        ended, _, _ = select.select(list(children), [], [])
        for pidfd in ended:
            pid = children.pop(pidfd)
            os.close(pidfd)
            _, status = os.waitpid(pid, 0)
            log.warning(
                "pipeline child %s ended (exit code %s); starting another",
                pid,
                os.waitstatus_to_exitcode(status),
            )
            replacement = _fork_child(listener, opencv_threads)
            children[os.pidfd_open(replacement)] = replacement


def _log_as_json() -> None:
    """The supervisor's warnings in the backend's JSON log format, on the inherited stderr."""
    from canny.json_logs import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.propagate = False


def _fork_child(listener: Listener, opencv_threads: int) -> int:
    """A child of the supervisor, a single-threaded process, so a plain fork is safe."""
    pid = os.fork()
    if pid == 0:
        try:
            _serve(listener, opencv_threads)
        finally:
            os._exit(1)
    return pid


def _serve(listener: Listener, opencv_threads: int) -> NoReturn:
    """A child's loop: take the next waiting connection, run its one upload, again."""
    from canny import pipeline

    _die_with_parent()
    # A forked child keeps its supervisor's settings, but tuning is per process (OpenCV's
    # thread pool, glibc's malloc thresholds): it gets the pipeline's tuning.
    pipeline.tune_process(opencv_threads)
    # Sent to each worker it serves, which kills the child with it when the run is over its
    # budget: a pidfd names this process and no other, even after it has ended and its pid
    # has been given to another (pidfd_open(2), pidfd_send_signal(2)).
    pidfd = os.pidfd_open(os.getpid())
    while True:
        # A worker that stopped waiting (its deadline passed) or died has closed its end:
        # the send or the receive fails, and the child takes the next one.
        with listener.accept() as connection, contextlib.suppress(OSError, EOFError):
            _serve_one(connection, pidfd)


def _serve_one(connection: Connection, pidfd: int) -> None:
    connection.send(os.getpid())
    reduction.send_handle(connection, pidfd, 0)
    size, params, with_view = connection.recv()
    connection.send(_answer(connection, size, params, with_view))


def _answer(
    connection: Connection, size: int, params: CannyParams, with_view: bool
) -> tuple[bool, object]:
    """The pipeline's result for the upload the worker sent, or the error to raise there.

    The error goes back without its traceback: the traceback's frames would hold the view
    of the upload's mapping, which must be released before the mapping is closed."""
    from canny import pipeline

    with received_upload(connection, size) as data:
        try:
            return (True, pipeline.run(data, params, with_view))
        except ApiError as error:
            return (False, error.with_traceback(None))
        except Exception as error:  # a bug: the worker answers 500 and logs it
            return (False, RuntimeError(f"pipeline failed in the child: {error!r}"))
