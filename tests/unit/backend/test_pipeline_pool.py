"""The backend's shared pipeline children: how many by default (one per core the backend may
use), a dead one replaced with its exit code logged, and none left once their starter ends."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from canny.pipeline_pool import PipelinePool, cgroup_cpu_quota, default_processes


def cgroup_tree(root: Path, limits: dict[str, str]) -> Path:
    """A fake cgroup v2 mount: `cpu.max` with each given content, by cgroup path; and a
    /proc/self/cgroup naming the deepest of them as this process's."""
    for path, limit in limits.items():
        directory = root / path.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cpu.max").write_text(f"{limit}\n")
    membership = root.parent / "self-cgroup"
    membership.write_text(f"0::{max(limits, key=len)}\n")
    return membership


@pytest.mark.parametrize(
    ("limits", "quota"),
    [
        # compose's `cpus: 1.0` on the container's own cgroup (private cgroup namespace)
        ({"/": "100000 100000"}, 1.0),
        ({"/": "max 100000"}, None),
        # the tightest of the process's cgroup and its ancestors
        ({"/system.slice": "50000 100000", "/system.slice/backend.scope": "max 100000"}, 0.5),
        ({"/system.slice": "400000 100000", "/system.slice/backend.scope": "150000 100000"}, 1.5),
    ],
)
def test_the_cpu_quota_is_the_tightest_on_the_way_to_the_root(
    tmp_path: Path, limits: dict[str, str], quota: float | None
) -> None:
    root = tmp_path / "cgroup"
    assert cgroup_cpu_quota(root, cgroup_tree(root, limits)) == quota


def test_without_cgroup_v2_there_is_no_quota(tmp_path: Path) -> None:
    """cgroup v1 only (no `0::` line), or no /proc/self/cgroup at all."""
    v1 = tmp_path / "self-cgroup"
    v1.write_text("4:memory:/docker/abc\n1:cpu:/\n")
    assert cgroup_cpu_quota(tmp_path, v1) is None
    assert cgroup_cpu_quota(tmp_path, tmp_path / "missing") is None


def test_one_child_per_core_the_quota_allows(tmp_path: Path) -> None:
    """A quota of 1.5 cores lets two children run; never more than the cores there are,
    never fewer than one."""
    cores = len(os.sched_getaffinity(0))
    root = tmp_path / "cgroup"
    assert default_processes(root, cgroup_tree(root, {"/": "150000 100000"})) == min(cores, 2)
    assert default_processes(root, cgroup_tree(root, {"/": "1000 100000"})) == 1
    assert default_processes(root, cgroup_tree(root, {"/": "max 100000"})) == cores


def _state(pid: int) -> str:
    """proc(5) stat field 3, or "gone"; a zombie (Z) has ended too."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _wait_until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_child_that_ends_is_replaced_and_its_exit_code_logged(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The worker that lost an upload knows only that its child went away; the supervisor,
    its parent, logs how it ended (-9: SIGKILL, e.g. the OOM killer) on the backend's
    stderr, as a JSON line, and forks another."""
    pool = PipelinePool.start(processes=1, opencv_threads=1)
    try:
        [pid] = pool.child_pids()
        os.kill(pid, signal.SIGKILL)
        assert _wait_until(lambda: pool.child_pids() not in ([pid], []))
    finally:
        pool.close()
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert {
        "level": "WARNING",
        "logger": "canny.pipeline_pool",
        "message": f"pipeline child {pid} ended (exit code -9); starting another",
    }.items() <= lines[-1].items()


def test_the_children_end_with_the_last_process_that_holds_the_pool() -> None:
    """A master killed outright never calls on_exit: once it and its workers are gone,
    the supervisor reads end of file on its stdin and exits, and its children with it."""
    script = (
        "import os\n"
        "from canny.pipeline_pool import PipelinePool\n"
        "pool = PipelinePool.start(processes=2, opencv_threads=1)\n"
        "print(pool._supervisor.pid, *pool.child_pids(), flush=True)\n"
        "os._exit(0)\n"  # no finalizer, no close(): as SIGKILL would leave it
    )
    started = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    pids = [int(pid) for pid in started.stdout.split()]
    assert len(pids) == 3, started.stdout
    assert _wait_until(lambda: all(_state(pid) in ("Z", "gone") for pid in pids)), [
        _state(pid) for pid in pids
    ]
