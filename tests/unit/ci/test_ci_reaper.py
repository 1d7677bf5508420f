import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from ci import reaper
from infra import stack_name
from tests.conftest import LoopbackHttpServer
from tests.unit.ci.conftest import (
    DESTROY,
    LAST_UPDATE,
    STACK_LS,
    FakePulumi,
    job_environ,
    on_stack,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=reaper.MAX_AGE_HOURS)


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


def test_the_stacks_pulumi_lists_get_utc_times() -> None:
    """The Automation API reads `stack ls --json` into naive datetimes; `now` is aware."""
    summaries = [
        auto.StackSummary("prod", False, last_update=datetime(2026, 11, 24, 10, 0)),
        auto.StackSummary("test-a", True, update_in_progress=True, resource_count=3),
    ]
    assert reaper.stacks_of(summaries) == [
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
        ["stack", "select", "--stack", name],
        on_stack(DESTROY, name),
        [*LAST_UPDATE, name],
        STACK_LS,
        ["stack", "rm", "--yes", name],
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
    assert fake_pulumi.calls()[-6:] == destroy_and_rm("test-feature-stale")
    assert ["stack", "rm", "--yes", "test-feature-gone"] not in fake_pulumi.calls(), (
        "a stack whose destroy failed must keep its state"
    )


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


def test_the_reaper_refuses_a_credential_without_a_side(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    """It lists and destroys test stacks only, with the test side's credentials: a token it
    cannot place (docs/security.md) stops it before it lists anything."""
    environ = job_environ(DIGITALOCEAN_TOKEN="whose-token")
    assert reaper.main(["--remote", remote("develop")], environ, NOW) == 3
    assert fake_pulumi.calls() == []
    assert "DIGITALOCEAN_TOKEN set without a side" in capsys.readouterr().err


def test_an_update_in_progress_for_hours_is_reported_whatever_the_stack_and_fails_the_job(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed job left these locked: skipping them quietly would keep them so for ever.
    `stack ls` gives no time for an update in progress; its history does."""
    fake_pulumi.set_stacks(
        [
            {"name": "prod", "updateInProgress": True},
            {"name": "test-feature-a", "updateInProgress": True},
        ]
    )
    running = {"version": 8, "kind": "update", "result": "in-progress"}
    fake_pulumi.set_histories(
        {
            "prod": [running | {"startTime": "2026-11-25T06:00:00.000Z"}],
            "test-feature-a": [running | {"startTime": "2026-11-25T11:30:00.000Z"}],
        }
    )
    assert run_reaper(remote("develop", "feature/a")) == 1
    err = capsys.readouterr().err
    assert "STALE prod: an update has been in progress for 6 hours" in err, err
    assert "python -m ci.stack_recovery --stack prod" in err, err
    assert "test-feature-a" not in err, "an update of 30 minutes may still be running"
    destructive = [call for call in fake_pulumi.calls() if call[0] == "destroy"]
    assert destructive == [], "a locked stack is reported, never destroyed"


def test_a_finished_update_is_not_stale() -> None:
    finished = auto.UpdateSummary(
        kind="update",
        start_time=datetime(2026, 11, 20, 6, 0),
        message="",
        environment={},
        config={},
        result="failed",
        end_time=None,
    )
    assert reaper.in_progress_since([finished]) is None
    assert reaper.in_progress_since([]) is None


class FakeDigitalOcean(LoopbackHttpServer):
    """DigitalOcean's droplet list (two pages) and delete, on 127.0.0.1."""

    def __init__(self, droplets: list[dict]) -> None:
        super().__init__(FakeDigitalOceanHandler)
        self.droplets = droplets
        self.requests: list[tuple[str, str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://{self.address}"


class FakeDigitalOceanHandler(BaseHTTPRequestHandler):
    server: FakeDigitalOcean

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads self.server.requests."""

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, self.headers.get("Authorization")))
        page = 2 if "&page=2" in self.path else 1
        body = {"droplets": self.server.droplets[page - 1 :: 2], "links": {}}
        if page == 1:
            body["links"] = {"pages": {"next": f"{self.server.url}{self.path}&page=2"}}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_DELETE(self) -> None:
        self.server.requests.append(("DELETE", self.path, self.headers.get("Authorization")))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def digitalocean() -> Iterator[FakeDigitalOcean]:
    tags = ["canny", "ephemeral"]
    server = FakeDigitalOcean(
        [
            {"id": 101, "name": "owned", "tags": [*tags, "canny-test-feature-alive"]},
            {"id": 102, "name": "interrupted", "tags": [*tags, "canny-test-feature-alive"]},
            {"id": 103, "name": "stackless", "tags": [*tags, "canny-test-feature-removed"]},
            {"id": 104, "name": "prod-mistagged", "tags": [*tags, "canny-prod"]},
        ]
    )
    with server:
        yield server


def sweep(fake_pulumi: FakePulumi, remote_path: str, api: str, *argv: str) -> int:
    fake_pulumi.set_stacks(
        [{"name": "prod"}, {"name": "test-feature-alive", "lastUpdate": "2026-11-25T11:00:00.000Z"}]
    )
    fake_pulumi.set_export(
        [
            {"type": "digitalocean:index/droplet:Droplet", "id": "101"},
            {"type": "digitalocean:index/firewall:Firewall", "id": "102"},
        ]
    )
    environ = job_environ(DIGITALOCEAN_TOKEN_TEST="do-token-x")
    return reaper.main(
        ["--remote", remote_path, "--sweep-ephemeral", "--api-url", api, *argv], environ, NOW
    )


def test_the_sweep_lists_ephemeral_droplets_of_no_stack_and_deletes_nothing_by_default(
    fake_pulumi: FakePulumi,
    remote: Callable[..., str],
    digitalocean: FakeDigitalOcean,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert sweep(fake_pulumi, remote("develop", "feature/alive"), digitalocean.url) == 0
    out = capsys.readouterr().out
    assert "would delete (run with --delete-orphans) droplet 102 interrupted: it is not in " in out
    assert "droplet 103 stackless: its stack test-feature-removed does not exist" in out
    assert "101" not in out and "prod-mistagged" not in out, out
    assert [method for method, _, _ in digitalocean.requests] == ["GET", "GET"]
    assert {auth for _, _, auth in digitalocean.requests} == {"Bearer do-token-x"}
    assert "do-token-x" not in out


def test_the_sweep_deletes_only_when_asked(
    fake_pulumi: FakePulumi, remote: Callable[..., str], digitalocean: FakeDigitalOcean
) -> None:
    path = remote("develop", "feature/alive")
    assert sweep(fake_pulumi, path, digitalocean.url, "--delete-orphans") == 0
    deleted = [path for method, path, _ in digitalocean.requests if method == "DELETE"]
    assert sorted(deleted) == ["/v2/droplets/102", "/v2/droplets/103"]


class FakeGitLab(LoopbackHttpServer):
    """GitLab's list of a project's open merge requests, two pages, on 127.0.0.1."""

    def __init__(self, merge_requests: list[dict], status: int = 200) -> None:
        super().__init__(FakeGitLabHandler)
        self.merge_requests = merge_requests
        self.status = status
        self.requests: list[tuple[str, str | None]] = []


class FakeGitLabHandler(BaseHTTPRequestHandler):
    server: FakeGitLab

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads self.server.requests."""

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("PRIVATE-TOKEN")))
        page = 2 if "&page=2" in self.path else 1
        payload = json.dumps(self.server.merge_requests[page - 1 :: 2]).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Next-Page", "2" if page == 1 else "")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


FORK_STACKS = [
    {"name": "test-feature-alive", "lastUpdate": "2026-11-25T11:00:00.000Z"},
    {"name": "test-from-a-fork", "lastUpdate": "2026-11-25T11:00:00.000Z"},
    {"name": "test-feature-gone", "lastUpdate": "2026-11-25T11:00:00.000Z"},
]
OPEN_REQUESTS = [
    {"iid": 1, "source_branch": "from-a-fork", "source_project_id": 2002},
    {"iid": 2, "source_branch": "feature/alive", "source_project_id": 1001},
]


def reap_with_gitlab(remote_path: str, gitlab: FakeGitLab | None) -> int:
    variables = {}
    if gitlab:
        variables = {
            "CI_API_V4_URL": f"http://{gitlab.address}/api/v4",
            "CI_PROJECT_ID": "1001",
            "CANNY_REAPER_API_TOKEN": "glpat-read-api-x",
        }
    return reaper.main(["--remote", remote_path], job_environ(**variables), NOW)


def test_the_stack_of_an_open_merge_request_from_a_fork_is_kept(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks(FORK_STACKS)
    with FakeGitLab(OPEN_REQUESTS) as gitlab:
        assert reap_with_gitlab(remote("develop", "feature/alive"), gitlab) == 0
    destroyed = [call[-1] for call in fake_pulumi.calls() if call[0] == "destroy"]
    assert destroyed == ["test-feature-gone"]
    assert [path.split("?")[0] for path, _ in gitlab.requests] == [
        "/api/v4/projects/1001/merge_requests"
    ] * 2
    assert all("state=opened" in path for path, _ in gitlab.requests)
    assert {token for _, token in gitlab.requests} == {"glpat-read-api-x"}
    assert "glpat-read-api-x" not in capsys.readouterr().out


def test_without_the_api_token_the_reaper_says_what_it_cannot_see(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks(FORK_STACKS)
    assert reap_with_gitlab(remote("develop", "feature/alive"), None) == 0
    assert "no CANNY_REAPER_API_TOKEN" in capsys.readouterr().out


def test_a_failing_merge_request_list_reaps_nothing(
    fake_pulumi: FakePulumi, remote: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks(FORK_STACKS)
    with FakeGitLab(OPEN_REQUESTS, status=500) as gitlab:
        assert reap_with_gitlab(remote("develop", "feature/alive"), gitlab) == 1
    assert [call for call in fake_pulumi.calls() if call[0] == "destroy"] == []
    assert "no list of open merge requests" in capsys.readouterr().err


def test_in_ci_the_reaper_hands_each_stack_to_a_job_holding_its_lock(
    fake_pulumi: FakePulumi, remote: Callable[..., str], tmp_path: Path
) -> None:
    """The reaper destroys nothing itself: one child job per stack, in the resource group
    that stack's review and stop jobs take, so no reap races a deploy."""
    shutil.copy(Path(__file__).resolve().parents[3] / ".gitlab-ci.yml", tmp_path)
    fake_pulumi.set_stacks(STACKS)
    child = tmp_path / "reap-pipeline.yml"
    path = remote("develop", "feature/alive", "feature/stale")
    assert run_reaper(path, "--child-pipeline", str(child)) == 0
    assert fake_pulumi.calls() == [STACK_LS], "nothing may be destroyed by the reap job itself"
    pipeline = yaml.safe_load(child.read_text())
    job = pipeline["reap test-feature-gone"]
    assert job["resource_group"] == "review/" + stack_name.ref_slug("feature/gone")
    assert job["script"] == [
        ".venv/bin/python -m ci.pulumi_cli destroy --stack test-feature-gone",
        ".venv/bin/python -m ci.pulumi_cli stack-rm --stack test-feature-gone",
    ]
    assert job["image"]["name"] == "$PULUMI_IMAGE"
    assert any("ci.infra_requirements" in line for line in job["before_script"])
    assert set(pipeline) == {"stages", "reap test-feature-gone", "reap test-feature-stale"}


def test_a_child_pipeline_with_nothing_to_reap_still_has_a_job(
    fake_pulumi: FakePulumi, remote: Callable[..., str], tmp_path: Path
) -> None:
    shutil.copy(Path(__file__).resolve().parents[3] / ".gitlab-ci.yml", tmp_path)
    fake_pulumi.set_stacks(STACKS[:3])
    child = tmp_path / "reap-pipeline.yml"
    assert run_reaper(remote("develop", "feature/alive"), "--child-pipeline", str(child)) == 0
    assert set(yaml.safe_load(child.read_text())) == {"stages", "nothing to reap"}
