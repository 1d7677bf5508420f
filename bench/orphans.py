"""The bench adopts the server's orphans, so that their CPU is counted to the end.

A recycled gunicorn worker leaves its forkserver and pipeline children behind; the
kernel reparents them to the nearest ancestor marked as a "child subreaper", else to
init (prctl(2), PR_SET_CHILD_SUBREAPER). Adopted by the bench, an orphan that exits
stays a zombie, with its final utime/stime/cutime/cstime readable in /proc, until the
bench has sampled it and reaps it here.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from bench.proc_stats import ProcStat

_PR_SET_CHILD_SUBREAPER = 36
_LIBC = ctypes.CDLL(None, use_errno=True)


def adopt_orphans() -> None:
    """Make this process the subreaper of every process it starts from now on."""
    if _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_sampled_zombies(members: Iterable[ProcStat]) -> list[int]:
    """Reap the adopted zombies among members just sampled; group leaders (the servers
    the bench started itself) are left to their subprocess.Popen."""
    reaped = []
    for member in members:
        adopted = member.ppid == os.getpid() and member.pid != member.pgrp
        if adopted and member.state == "Z":
            try:
                pid, _ = os.waitpid(member.pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if pid:
                reaped.append(pid)
    return reaped
