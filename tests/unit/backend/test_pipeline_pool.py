"""How many pipeline children a backend starts by default: one per core it may use."""

import os
from pathlib import Path

import pytest
from canny.pipeline_pool import cgroup_cpu_quota, default_processes


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
