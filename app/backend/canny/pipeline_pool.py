"""A backend's pipeline children, shared by all its workers and fed from one queue.

Each gunicorn worker used to own one child, and a kept-alive connection stays with one
worker, so one child queued uploads while the other idled (issue 31; the figures before
and after: docs/performance-levers.md, "Pipeline children shared by a backend's workers").
Here the children of a backend are shared: they all block
in accept(2) on one listening Unix socket, and a worker hands over an upload by connecting
to it. A connection waits in the socket's backlog until a child is free, and the kernel
gives it to the next child that calls accept, so no child idles while an upload waits.

Who starts them: gunicorn's master, before it forks the workers (gunicorn.conf.py,
`when_ready`); in a process without gunicorn (tests, a Flask app a script builds) the
pipeline runner starts a pool of its own. The pool is a supervisor process and its
children: the supervisor imports the pipeline once and forks the children (a child is
ready as soon as it is tuned), waits for any of them to end and forks a replacement.

Why a fresh interpreter (subprocess) and not multiprocessing.Process for the supervisor:
gunicorn's workers are os.fork() copies of the master, and a copy of a multiprocessing
Process object makes each worker's exit try to terminate and join the master's child
(multiprocessing/util.py, _exit_function), which fails ("can only join a child
process"). The master's arbiter also reaps any child of the master (`os.waitpid(-1, ...)`
in Arbiter.reap_workers, gunicorn/arbiter.py): it only logs an unknown one, so the
supervisor's exit is not confused with a worker's.

How it ends: the supervisor and the children ignore SIGTERM and SIGINT (a graceful stop
signals the whole process group, and workers still finishing uploads need the children).
The supervisor reads its stdin, a pipe whose other end the starting process and its forks
(gunicorn's workers) hold: at end of file, when the last of them has ended, it exits,
and each child dies with it (PR_SET_PDEATHSIG, prctl(2)). close() kills it at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import weakref
from multiprocessing import reduction
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from canny.errors import ApiError
from canny.upload_handover import received_upload

if TYPE_CHECKING:
    # gunicorn's master imports this module to start the pool and must not load OpenCV:
    # the supervisor imports the pipeline, and its children run it.
    from canny.pipeline import CannyParams

# Starting the pool (the supervisor imports OpenCV) is not part of any upload's budget, but
# is bounded too.
STARTUP_SECONDS = 60.0
# What the supervisor writes on its stdout once its children exist.
READY = b"ready\n"
# Uploads that may wait in the socket's backlog for a child. Each worker admits at most
# CANNY_PIPELINE_PROCESSES + CANNY_PIPELINE_QUEUE runs, so this is never the limit; a full
# backlog would block connect(2) instead of queueing (unix(7)). listen(2) caps it at
# net.core.somaxconn.
BACKLOG = socket.SOMAXCONN
# Where cgroup v2 is mounted, and where the kernel says which cgroup this process is in
# (cgroups(7)).
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_MEMBERSHIP = Path("/proc/self/cgroup")
# From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
# What ps, top and /proc/<pid>/comm show for them (at most 15 bytes: prctl(2)).
SUPERVISOR_NAME = "canny-pipe-sup"
CHILD_NAME = "canny-pipeline"
# Named, not __name__: the supervisor runs this module as __main__.
log = logging.getLogger("canny.pipeline_pool")


def default_processes(cgroup_root: Path = CGROUP_ROOT, membership: Path = CGROUP_MEMBERSHIP) -> int:
    """One child per core this process may use: the cores it may run on
    (sched_getaffinity(2), which a container's cpuset narrows, unlike os.cpu_count()), or
    fewer when its cgroup's CPU quota allows fewer (compose's `cpus: 1.0` is one core's
    worth however many the machine has): more children than that only take turns."""
    cores = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(cgroup_root, membership)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def cgroup_cpu_quota(cgroup_root: Path, membership: Path) -> float | None:
    """Cores' worth of CPU time this process's cgroup allows, the tightest of it and its
    ancestors; None without a limit or without cgroup v2.

    cgroup v2: /proc/self/cgroup holds `0::<path>`, and each cgroup's `cpu.max` holds
    `$MAX $PERIOD` in microseconds, `max` for no limit
    (https://docs.kernel.org/admin-guide/cgroup-v2.html, "CPU Interface Files"). Docker's
    `--cpus` (compose `cpus`) sets that quota and period
    (https://docs.docker.com/config/containers/resource_constraints/#cpu; moby/moby#29579)."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    paths = [line[3:] for line in lines if line.startswith("0::")]
    if not paths:
        return None
    own = cgroup_root / paths[0].lstrip("/")
    quotas = []
    for directory in (own, *own.parents):
        if not directory.is_relative_to(cgroup_root):
            break
        try:
            limit, period = (directory / "cpu.max").read_text().split()
        except (OSError, ValueError):
            continue  # no such file: the root cgroup, or no cpu controller there
        if limit != "max":
            quotas.append(int(limit) / int(period))
    return min(quotas, default=None)


def _prctl(option: int, value: int | bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _name_process(name: str) -> None:
    """What ps, top and /proc/<pid>/comm show for this process."""
    _prctl(PR_SET_NAME, name.encode())


def _die_with_parent() -> None:
    """SIGKILL when the parent ends; at once if it already has (prctl(2): the setting does
    not cover a parent that died before the call, whose orphan has a new parent)."""
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


class PipelinePool:
    """The supervisor of `processes` children and the address workers connect to."""

    def __init__(self, address: str, processes: int, supervisor: subprocess.Popen[bytes]) -> None:
        self.address = address
        self.processes = processes
        self._supervisor = supervisor
        # A pool dropped without close() (a runner a test made) still stops its children.
        self.close = weakref.finalize(
            self, _stop, os.getpid(), supervisor, str(Path(address).parent)
        )

    @classmethod
    def start(cls, processes: int, opencv_threads: int) -> PipelinePool:
        """Start the supervisor and its children and wait until they are tuned, so that
        no upload waits for OpenCV to be imported."""
        if processes < 1:
            raise ValueError("a pipeline pool needs at least one process")
        # A private directory (0700, mkdtemp): only this user's processes may hand uploads
        # to the children.
        address = str(Path(tempfile.mkdtemp(prefix="canny-pipeline-")) / "children.sock")
        supervisor = subprocess.Popen(
            [sys.executable, "-m", __name__, address, str(processes), str(opencv_threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _package_path()},
        )
        pool = cls(address, processes, supervisor)
        assert supervisor.stdout is not None
        with supervisor.stdout as ready:
            answered, _, _ = select.select([ready], [], [], STARTUP_SECONDS)
            if not answered or ready.readline() != READY:
                pool.close()
                raise RuntimeError("the pipeline children did not start")
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


def _package_path() -> str:
    """PYTHONPATH with this package's directory first, so `-m canny.pipeline_pool` finds
    it however the backend was started (installed, or from the source tree)."""
    here = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


def _stop(owner_pid: int, supervisor: subprocess.Popen[bytes], directory: str) -> None:
    """Stop the pool, in the process that started it only: gunicorn's workers are forks of
    the master and inherit its finalizers, which run when a worker exits."""
    if os.getpid() != owner_pid:
        return
    supervisor.kill()
    # Reaped here, or by gunicorn's arbiter first: Popen.wait then takes ECHILD as ended.
    supervisor.wait()
    if supervisor.stdin is not None:
        supervisor.stdin.close()
    shutil.rmtree(directory, ignore_errors=True)


def _supervise(address: str, processes: int, opencv_threads: int) -> None:
    """Keep `processes` children serving the listening socket, replacing any that ends,
    until its stdin reaches end of file."""
    import canny.pipeline  # noqa: F401  # once here, not in each child

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _name_process(SUPERVISOR_NAME)
    _log_as_json()
    lifeline = sys.stdin.fileno()
    listener = Listener(address, "AF_UNIX", backlog=BACKLOG)
    children = {}
    tuned, tuned_by_child = os.pipe()
    for _ in range(processes):
        pid = _fork_child(listener, opencv_threads, tuned_by_child)
        children[os.pidfd_open(pid)] = pid
    os.close(tuned_by_child)
    # Each child writes one byte once tuned: then it only waits for uploads. (A child
    # that dies first leaves the starter to time out: STARTUP_SECONDS.)
    untuned = processes
    while untuned:
        told = os.read(tuned, untuned)
        if not told:
            raise SystemExit("the pipeline children ended before they were tuned")
        untuned -= len(told)
    os.close(tuned)
    # Ready; stdout is not used again (the children's goes nowhere either).
    os.write(sys.stdout.fileno(), READY)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    while True:
        # A pidfd is readable once its process has ended (pidfd_open(2)); the lifeline
        # once all its writers are gone.
        ended, _, _ = select.select([lifeline, *children], [], [])
        if lifeline in ended:
            return
        for pidfd in ended:
            pid = children.pop(pidfd)
            os.close(pidfd)
            _, status = os.waitpid(pid, 0)
            log.warning(
                "pipeline child %s ended (exit code %s); starting another",
                pid,
                os.waitstatus_to_exitcode(status),
            )
            replacement = _fork_child(listener, opencv_threads, None)
            children[os.pidfd_open(replacement)] = replacement


def _log_as_json() -> None:
    """The supervisor's warnings in the backend's JSON log format, on the inherited stderr."""
    from canny.json_logs import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.propagate = False


def _fork_child(listener: Listener, opencv_threads: int, tuned: int | None) -> int:
    """A child of the supervisor, a single-threaded process, so a plain fork is safe."""
    pid = os.fork()
    if pid == 0:
        try:
            _serve(listener, opencv_threads, tuned)
        finally:
            os._exit(1)
    return pid


def _serve(listener: Listener, opencv_threads: int, tuned: int | None) -> NoReturn:
    """A child's loop: take the next waiting connection, run its one upload, again."""
    from canny import pipeline

    _name_process(CHILD_NAME)
    _die_with_parent()
    # A forked child keeps its supervisor's settings, but tuning is per process (OpenCV's
    # thread pool, glibc's malloc thresholds): it gets the pipeline's tuning.
    pipeline.tune_process(opencv_threads)
    if tuned is not None:  # a first child, whose supervisor waits for it
        os.write(tuned, b".")
        os.close(tuned)
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


if __name__ == "__main__":
    _supervise(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
