import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ci import reaper
from infra import stack_name
from tests.unit.ci.conftest import STACK_LS, UNATTENDED, FakePulumi, job_environ, on_test_stack

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=48)


def stack(name: str, hours_ago: float | None = 1, in_progress: bool = False) -> reaper.Stack:
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return reaper.Stack(name, last, in_progress)


def doomed_names(stacks: list[reaper.Stack], branches: list[str]) -> list[str]:
    return [victim.stack for victim in reaper.select(stacks, branches, NOW, MAX_AGE)]


@pytest.mark.parametrize(
    ("stacks", "branches", "expected"),
    [
        ([stack("test-feature-x")], ["feature/x"], []),
        ([stack("test-feature-x")], ["develop"], ["test-feature-x"]),
        ([stack("test-feature-x", hours_ago=49)], ["feature/x"], ["test-feature-x"]),
        ([stack("test-feature-x", hours_ago=47)], ["feature/x"], []),
        ([stack("test-feature-x", hours_ago=None)], ["feature/x"], []),
        ([stack("test-feature-x", in_progress=True)], [], []),
        ([stack("acme/canny/test-feature-x")], ["main"], ["acme/canny/test-feature-x"]),
        ([stack("acme/other/test-feature-x")], ["main"], []),
        ([stack("prod", hours_ago=5000), stack("test", hours_ago=5000)], ["main"], []),
        ([stack("staging")], ["main"], []),
    ],
)
def test_select(stacks: list[reaper.Stack], branches: list[str], expected: list[str]) -> None:
    assert doomed_names(stacks, branches) == expected


def test_a_long_branch_keeps_its_shortened_stack() -> None:
    branch = "feature/" + "x" * 40
    long_stack = stack(stack_name.stack_for_branch(branch))
    assert doomed_names([long_stack], [branch]) == []
    assert doomed_names([long_stack], ["develop"]) == [long_stack.name]


def test_select_gives_a_readable_reason() -> None:
    victims = reaper.select([stack("test-a", hours_ago=72.5)], ["a"], NOW, MAX_AGE)
    assert victims == [reaper.Doomed("test-a", "last updated 72 hours ago")]


def test_parse_stacks_reads_pulumi_json() -> None:
    text = json.dumps(
        [
            {"name": "prod", "current": False, "lastUpdate": "2026-11-24T10:00:00.000Z"},
            {"name": "test-a", "current": True, "updateInProgress": True, "resourceCount": 3},
        ]
    )
    assert reaper.parse_stacks(text) == [
        reaper.Stack("prod", datetime(2026, 11, 24, 10, 0, tzinfo=UTC), False),
        reaper.Stack("test-a", None, True),
    ]


@pytest.fixture
def remote(tmp_path: Path, require_tool: Callable[[str], str]) -> Callable[..., str]:
    """A git repository with the given branches, used as the reaper's remote."""
    git = require_tool("git")

    def make(*branches: str) -> str:
        repo = tmp_path / "remote.git"
        identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
        subprocess.run([git, "init", "-q", "-b", branches[0], str(repo)], check=True)
        subprocess.run(
            [git, *identity, "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "start"],
            check=True,
        )
        for branch in branches[1:]:
            subprocess.run([git, "-C", str(repo), "branch", branch], check=True)
        return str(repo)

    return make


STACKS = [
    {"name": "prod", "current": False, "lastUpdate": "2020-01-01T00:00:00.000Z"},
    {"name": "test", "current": False, "lastUpdate": "2020-01-01T00:00:00.000Z"},
    {"name": "test-feature-alive", "current": False, "lastUpdate": "2026-11-25T11:00:00.000Z"},
    {"name": "test-feature-gone", "current": False, "lastUpdate": "2026-11-25T11:00:00.000Z"},
    {"name": "test-feature-stale", "current": False, "lastUpdate": "2026-11-20T11:00:00.000Z"},
]


def destroy_and_rm(name: str) -> list[list[str]]:
    """Each step lists the stacks first: a stack that is already gone is not an error."""
    return [
        STACK_LS,
        on_test_stack(["destroy"], name, *UNATTENDED),
        STACK_LS,
        ["stack", "rm", "--stack", name, "--non-interactive", "--yes"],
    ]


def run_reaper(remote_path: str, *argv: str) -> int:
    return reaper.main(["--remote", remote_path, *argv], job_environ(), NOW)


def test_reaps_gone_and_stale_review_stacks_and_nothing_else(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks(STACKS)
    assert run_reaper(remote("develop", "production", "feature/alive", "feature/stale")) == 0
    assert fake_pulumi.calls() == [
        STACK_LS,
        *destroy_and_rm("test-feature-gone"),
        *destroy_and_rm("test-feature-stale"),
    ]
    out = capsys.readouterr().out
    assert "reaping test-feature-gone: its branch no longer exists" in out
    assert "reaping test-feature-stale: last updated 121 hours ago" in out


def test_dry_run_destroys_nothing(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks(STACKS)
    assert run_reaper(remote("develop", "feature/alive"), "--dry-run") == 0
    assert fake_pulumi.calls() == [STACK_LS]
    assert "would reap test-feature-stale: its branch no longer exists" in capsys.readouterr().out


def test_one_failure_does_not_stop_the_others_but_fails_the_job(
    fake_pulumi: FakePulumi, remote: Callable[..., str]
) -> None:
    fake_pulumi.set_stacks(STACKS)
    fake_pulumi.fail_on("destroy test-feature-gone")
    assert run_reaper(remote("develop", "feature/alive", "feature/stale")) == 1
    assert fake_pulumi.calls()[-4:] == destroy_and_rm("test-feature-stale")
    assert ["stack", "rm", "--stack", "test-feature-gone", "--non-interactive", "--yes"] not in (
        fake_pulumi.calls()
    ), "a stack whose destroy failed must keep its state"


@pytest.mark.parametrize("branches", [None, ()])
def test_no_branch_list_means_no_reaping(
    fake_pulumi: FakePulumi,
    remote: Callable[..., str],
    tmp_path: Path,
    branches: tuple | None,
    require_tool: Callable[[str], str],
) -> None:
    fake_pulumi.set_stacks(STACKS)
    if branches is None:
        path = str(tmp_path / "no-such-remote")
    else:
        path = str(tmp_path / "empty.git")
        subprocess.run([require_tool("git"), "init", "-q", "--bare", path], check=True)
    assert run_reaper(path) == 1
    destructive = [c for c in fake_pulumi.calls() if c[0] == "destroy" or c[:2] == ["stack", "rm"]]
    assert destructive == [], "nothing may be destroyed without a branch list"


def test_a_missing_tool_is_named(
    remote: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"PATH": str(tmp_path / "empty-bin")}
    assert reaper.main(["--remote", remote("develop")], environ, NOW) == 1
    assert "git is not on PATH" in capsys.readouterr().err
