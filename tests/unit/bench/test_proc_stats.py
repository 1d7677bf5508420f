"""Parsing /proc: stat fields after an awkward command name, memory lines, process groups."""

from pathlib import Path

import pytest

from bench import proc_stats


def stat_line(pid: int, comm: str, ppid: int, pgrp: int, times: tuple[int, int, int, int]) -> str:
    utime, stime, cutime, cstime = times
    # Fields 3..17 of proc(5); 0s stand for the ones the bench does not read.
    return f"{pid} ({comm}) S {ppid} {pgrp} 0 0 0 0 0 0 0 0 {utime} {stime} {cutime} {cstime} 20"


@pytest.mark.parametrize("comm", ["gunicorn", "nginx: worker process", "odd) (name"])
def test_parse_stat_counts_fields_after_the_last_parenthesis(comm: str) -> None:
    stat = proc_stats.parse_stat(stat_line(42, comm, 7, 40, (100, 20, 5, 1)))
    assert (stat.pid, stat.ppid, stat.pgrp) == (42, 7, 40), f"ids misread for comm {comm!r}"
    assert stat.cpu_ticks == 120, "utime + stime"
    assert stat.reaped_children_ticks == 6, "cutime + cstime"


def test_parse_status_memory_reads_rss_and_peak_in_mb() -> None:
    status = "Name:\tgunicorn\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t3\n"
    memory = proc_stats.parse_status_memory(status)
    assert (memory.rss_mb, memory.peak_rss_mb) == (100.0, 200.0)


def fake_proc(root: Path, processes: dict[int, tuple[int, int, int]]) -> Path:
    """pid -> (ppid, pgrp, utime) as /proc/<pid>/stat files, plus a non-process entry."""
    for pid, (ppid, pgrp, utime) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(stat_line(pid, "x", ppid, pgrp, (utime, 0, 0, 0)))
    (root / "self").mkdir()
    return root


def test_group_members_and_their_cpu(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: (1, 10, 100), 11: (10, 10, 300), 20: (1, 20, 999)})
    members = proc_stats.group_members([10], proc)
    assert sorted(m.pid for m in members) == [10, 11], "only the processes of group 10"
    expected = 400 / proc_stats.CLOCK_TICKS_PER_SECOND
    assert proc_stats.cpu_seconds(members) == pytest.approx(expected)


def test_a_vanished_process_reads_as_none(tmp_path: Path) -> None:
    assert proc_stats.read_stat(12345, tmp_path) is None
    assert proc_stats.read_memory(12345, tmp_path) is None


def test_this_process_is_readable() -> None:
    import os

    stat = proc_stats.read_stat(os.getpid())
    assert stat is not None and stat.pid == os.getpid()
    memory = proc_stats.read_memory(os.getpid())
    assert memory is not None and 0 < memory.rss_mb <= memory.peak_rss_mb
