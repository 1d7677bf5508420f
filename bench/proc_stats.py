"""CPU time and memory of server processes, read from /proc (Linux only).

CPU is utime + stime of every live process of a process group, plus cutime + cstime,
which hold the time of children already reaped: a recycled gunicorn worker's CPU moves
to its master when the master waits for it. A process that exits *unreaped by a member*
takes its CPU along: a recycled worker's forkserver and pipeline children are orphaned
when the worker exits and are reaped by whoever adopts them, so a plain sum over live
processes drops (and a run's figure went negative). GroupCpu keeps what each departed
process had used (proc(5): utime, stime, cutime, cstime, starttime).
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
    state: str = "R"
    # Clock ticks after boot when the process started: with the pid, it names one
    # process even when the pid is reused.
    start_ticks: int = 0
    # The command name (proc(5) field 2), which a process may set itself (prctl(2)
    # PR_SET_NAME: the backend's pipeline supervisor and children do).
    comm: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    @property
    def total_ticks(self) -> int:
        return self.cpu_ticks + self.reaped_children_ticks


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
    pid_field, _, comm = pid_part.partition("(")
    return ProcStat(
        pid=int(pid_field),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        reaped_children_ticks=int(fields[13]) + int(fields[14]),
        state=fields[0],
        start_ticks=int(fields[19]),
        comm=comm,
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


class GroupCpu:
    """CPU used by the processes of some process groups, kept when members exit.

    Each sample compares the members with the previous sample's. A member that is gone
    was either waited for by its parent, a member still alive (its CPU is now in that
    parent's cutime/cstime), or not (orphaned and adopted elsewhere, or it left the
    groups): then the CPU it had used at the last sample is kept here. What such a
    process used after the last sample would be lost, so the bench adopts orphans
    (bench.orphans): they stay zombies, sampled with their final times, until reaped.
    """

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self._last: dict[int, ProcStat] = {}
        self._departed_ticks = 0

    def sample(self, pgids: Iterable[int]) -> list[ProcStat]:
        """The live members now, after settling the accounts of those that left."""
        members = group_members(pgids, self.proc)
        now = {member.pid: member for member in members}
        for pid, last in self._last.items():
            current = now.get(pid)
            if current is not None and current.key == last.key:
                continue
            if not self._reaped_by_member(last, now):
                self._departed_ticks += last.total_ticks
        self._last = now
        return members

    @property
    def members(self) -> list[ProcStat]:
        """The live members at the last sample."""
        return list(self._last.values())

    def _reaped_by_member(self, last: ProcStat, now: dict[int, ProcStat]) -> bool:
        still_running = read_stat(last.pid, self.proc)
        if still_running is not None and still_running.key == last.key:
            return False  # it left the groups (setsid): its CPU so far stays counted
        parent_now, parent_last = now.get(last.ppid), self._last.get(last.ppid)
        return (
            parent_now is not None and parent_last is not None and parent_now.key == parent_last.key
        )

    def seconds(self, pgids: Iterable[int]) -> float:
        """CPU seconds used by the groups' processes, departed ones included."""
        members = self.sample(pgids)
        ticks = self._departed_ticks + sum(m.total_ticks for m in members)
        return ticks / CLOCK_TICKS_PER_SECOND
