"""/proc files written for the bench's /proc readers to parse (bench.proc_stats)."""

from pathlib import Path


def stat_line(
    pid: int,
    comm: str,
    ppid: int,
    pgrp: int,
    times: tuple[int, int, int, int],
    start: int = 0,
    state: str = "S",
) -> str:
    utime, stime, cutime, cstime = times
    # Fields 3..22 of proc(5); 0s stand for the ones the bench does not read.
    return (
        f"{pid} ({comm}) {state} {ppid} {pgrp} 0 0 0 0 0 0 0 0 "
        f"{utime} {stime} {cutime} {cstime} 20 0 1 0 {start} 0"
    )


def fake_proc(
    root: Path, processes: dict[int, tuple[int, int, int]], names: dict[int, str] | None = None
) -> Path:
    """pid -> (ppid, pgrp, utime) as /proc/<pid>/stat files, with the command names given
    (else "x"), plus a non-process entry."""
    for pid, (ppid, pgrp, utime) in processes.items():
        (root / str(pid)).mkdir()
        comm = (names or {}).get(pid, "x")
        (root / str(pid) / "stat").write_text(stat_line(pid, comm, ppid, pgrp, (utime, 0, 0, 0)))
    (root / "self").mkdir()
    return root
