"""Parsing /proc: stat fields after an awkward command name, memory lines, process groups."""

from pathlib import Path

import pytest

from bench import proc_stats
from tests.unit.bench.proc_files import fake_proc, stat_line


@pytest.mark.parametrize("comm", ["gunicorn", "nginx: worker process", "odd) (name"])
def test_parse_stat_counts_fields_after_the_last_parenthesis(comm: str) -> None:
    stat = proc_stats.parse_stat(stat_line(42, comm, 7, 40, (100, 20, 5, 1)))
    assert (stat.pid, stat.ppid, stat.pgrp) == (42, 7, 40), f"ids misread for comm {comm!r}"
    assert stat.comm == comm
    assert stat.cpu_ticks == 120, "utime + stime"
    assert stat.reaped_children_ticks == 6, "cutime + cstime"


def test_parse_stat_reads_state_and_start_time() -> None:
    stat = proc_stats.parse_stat(stat_line(42, "x", 7, 40, (1, 2, 3, 4), start=9876, state="Z"))
    assert (stat.state, stat.start_ticks, stat.key) == ("Z", 9876, (42, 9876))


def test_parse_status_memory_reads_rss_and_peak_in_mb() -> None:
    status = "Name:\tgunicorn\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t3\n"
    memory = proc_stats.parse_status_memory(status)
    assert (memory.rss_mb, memory.peak_rss_mb) == (100.0, 200.0)


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


class FakeProc:
    """A /proc folder whose processes the test starts, changes and ends between samples."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(
        self, pid: int, ppid: int, pgrp: int, own: int, reaped: int = 0, start: int = 0
    ) -> None:
        (self.root / str(pid)).mkdir(exist_ok=True)
        line = stat_line(pid, "x", ppid, pgrp, (own, 0, reaped, 0), start=start)
        (self.root / str(pid) / "stat").write_text(line)

    def end(self, pid: int) -> None:
        (self.root / str(pid) / "stat").unlink()
        (self.root / str(pid)).rmdir()


def ticks(seconds: float) -> float:
    return seconds * proc_stats.CLOCK_TICKS_PER_SECOND


def test_an_orphan_that_exits_between_samples_keeps_its_cpu(tmp_path: Path) -> None:
    """A recycled worker (11) is reaped by its master (10); its forkserver (12) is
    orphaned and reaped outside the group. The figure must not go down."""
    proc = FakeProc(tmp_path)
    proc.run(10, 1, 10, own=100)
    proc.run(11, 10, 10, own=200)
    proc.run(12, 11, 10, own=500)
    tracker = proc_stats.GroupCpu(tmp_path)
    before = tracker.seconds([10])
    plain_before = proc_stats.cpu_seconds(proc_stats.group_members([10], tmp_path))
    proc.end(11)
    proc.run(10, 1, 10, own=100, reaped=200)  # the master waited for its worker
    proc.end(12)
    after = tracker.seconds([10])
    plain_after = proc_stats.cpu_seconds(proc_stats.group_members([10], tmp_path))
    assert plain_after < plain_before, "the plain sum over live processes loses the orphan"
    assert ticks(before) == pytest.approx(800)
    assert ticks(after) == pytest.approx(800), "worker and forkserver each counted once"


def test_a_child_reaped_by_a_member_is_not_counted_twice(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.run(10, 1, 10, own=100)
    proc.run(11, 10, 10, own=200)
    tracker = proc_stats.GroupCpu(tmp_path)
    tracker.seconds([10])
    proc.end(11)
    proc.run(10, 1, 10, own=130, reaped=250)  # it ran 50 more ticks before it exited
    assert ticks(tracker.seconds([10])) == pytest.approx(380)


def test_a_reused_pid_is_another_process(tmp_path: Path) -> None:
    """pid 12 exits orphaned and a new process gets pid 12: both count."""
    proc = FakeProc(tmp_path)
    proc.run(10, 1, 10, own=100)
    proc.run(12, 99, 10, own=300, start=5)
    tracker = proc_stats.GroupCpu(tmp_path)
    tracker.seconds([10])
    proc.run(12, 10, 10, own=7, start=6)
    assert ticks(tracker.seconds([10])) == pytest.approx(407)


def test_a_process_that_left_the_groups_keeps_what_it_used(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.run(10, 1, 10, own=100)
    proc.run(11, 10, 10, own=200)
    tracker = proc_stats.GroupCpu(tmp_path)
    tracker.seconds([10])
    proc.run(11, 10, 11, own=900)  # setsid(): a group of its own
    assert ticks(tracker.seconds([10])) == pytest.approx(300)
