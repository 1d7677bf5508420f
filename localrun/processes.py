"""Child processes of the local stack that cannot outlive it."""

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def _own_group_dying_with(parent: int) -> Callable[[], None]:
    def prepare_child() -> None:
        """Between fork and exec: a process group of its own, so a gunicorn master and its
        workers are signalled together, and SIGTERM from the kernel when the parent dies,
        even by SIGKILL, so nothing is orphaned. (The signal follows the *thread* that
        started the child: start stacks from the main thread.)"""
        os.setsid()
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return prepare_child


def spawn(
    args: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path
) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_group_dying_with(os.getpid()),
        )


def leads_own_group(process: subprocess.Popen) -> bool:
    try:
        return os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        return False


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the child's whole process group, or the child alone if it has none."""
    with contextlib.suppress(ProcessLookupError):
        if leads_own_group(process):
            os.killpg(process.pid, signum)
        elif process.poll() is None:
            process.send_signal(signum)


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the group, wait a bounded time, then SIGKILL whatever is left of it."""
    own_group = leads_own_group(process)
    signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    if own_group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()
    process.wait()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the child's whole group at once, as a crash would, and reap it."""
    signal_group(process, signal.SIGKILL)
    process.wait()


def group_alive(group: int) -> bool:
    """Whether any process is left in a process group (e.g. workers of a dead master)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def signal_dead_group(group: int, signum: int) -> None:
    """Signal what is left of a group whose leader has already exited and been reaped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)
