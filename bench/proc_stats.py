"""CPU time and memory of server processes, read from /proc (Linux only).

CPU is utime + stime of every live process of a process group, plus cutime + cstime,
which hold the time of children already reaped (a recycled gunicorn worker's CPU
moves to its master when it exits, so nothing is lost between two samples).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    pgrp: int
    cpu_ticks: int
    reaped_children_ticks: int


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    peak_rss_mb: float


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/<pid>/stat; the command name may hold spaces and parentheses, so the
    fields are counted from the last ')'."""
    pid_part, _, rest = text.rpartition(")")
    fields = rest.split()
    # fields[0] is field 3 (state) of proc(5): ppid is field 4, utime field 14, and so on.
    return ProcStat(
        pid=int(pid_part.split("(", 1)[0]),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        reaped_children_ticks=int(fields[13]) + int(fields[14]),
    )


def parse_status_memory(text: str) -> Memory:
    """VmRSS (now) and VmHWM (peak) from /proc/<pid>/status, in MB."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return Memory(rss_mb=values["VmRSS"], peak_rss_mb=values["VmHWM"])


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def read_memory(pid: int, proc: Path = PROC) -> Memory | None:
    try:
        return parse_status_memory((proc / str(pid) / "status").read_text())
    except (FileNotFoundError, ProcessLookupError, KeyError):
        return None


def group_members(pgids: Iterable[int], proc: Path = PROC) -> list[ProcStat]:
    """Every live process whose process group is one of `pgids`."""
    wanted = set(pgids)
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name), proc)
            if stat is not None and stat.pgrp in wanted:
                members.append(stat)
    return members


def cpu_seconds(members: Iterable[ProcStat]) -> float:
    ticks = sum(m.cpu_ticks + m.reaped_children_ticks for m in members)
    return ticks / CLOCK_TICKS_PER_SECOND
