"""The rehearsal's `pulumi` (infra/rehearse/pulumi_standin.py) without droplets: it answers
the calls CI's wrapper makes as the Pulumi CLI does, refuses any other, and hands `up` the
stack's config; the rehearsal itself is a fake here (the droplets' side:
tests/integration/rehearsal/test_failed_release.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi import automation as auto
from semver import VersionInfo

from ci import update_outcome
from infra.rehearse.pulumi_standin import FAILED, USAGE, PulumiStandIn, ci_pulumi_version
from infra.rehearse.remote_steps import StepError

COMPOSE_UP = ("command:remote:Command", "canny-prod-compose-up")
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class FakeRehearsal:
    """Records each `up`'s config; announces the compose-up step, then fails it if told to."""

    fails: bool = False
    stack: str = "prod"
    configs: list[dict[str, Any]] = field(default_factory=list)

    def log(self, line: str) -> None:
        pass

    def up(self, image_tag: str, config: dict[str, Any], announce: Any) -> Any:
        self.configs.append(dict(config))
        announce(*COMPOSE_UP, "replace")
        if self.fails:
            raise StepError("exit 1\ncontainer canny-backend-1-1 is unhealthy")
        run = SimpleNamespace(
            outputs={"imageTag": image_tag, "sshHostKey": "k"}, secret_outputs={"sshHostKey"}
        )
        return SimpleNamespace(run=run, ran=lambda: ["canny-prod-compose-up"])


def _answer(pulumi: PulumiStandIn, *argv: str, stdin: str = "", debug: bool = False) -> Any:
    """One call as the Automation API makes it: `--non-interactive` first."""
    request = {"stdin": stdin, "debug_commands": debug}
    return pulumi.answer(["--non-interactive", *argv], pulumi.folder, request)


# Stack.up's call (sdk/python/lib/pulumi/automation/_stack.py), with prod's refresh.
UP = ("up", "--yes", "--skip-preview", "--policy-pack", "infra/policy", "--color", "never",
      "--refresh", "--exec-kind", "auto.local")  # fmt: skip
PROD = ("--stack", "prod")
OUTPUTS = ("stack", "output", "--json", "--stack", "prod")


def _pin(pulumi: PulumiStandIn, tag: str) -> int:
    return _answer(pulumi, "config", "set-all", *PROD, "--plaintext", f"canny:imageTag={tag}").code


def test_stack_calls_answer_for_the_rehearsed_stack_only(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(), tmp_path)
    assert _answer(pulumi, "version").stdout == ci_pulumi_version() + "\n"
    listing = json.loads(_answer(pulumi, "stack", "ls", "--json").stdout)
    assert listing == [{"name": "prod", "current": True}]
    assert _answer(pulumi, "stack", "select", "--stack", "prod").code == 0
    assert _answer(pulumi, "stack", "select", "--stack", "test").code == USAGE
    assert json.loads(_answer(pulumi, *OUTPUTS).stdout) == {}


@pytest.mark.parametrize(
    "argv",
    [
        ("destroy", "--stack", "prod", "--yes"),
        ("stack", "ls"),  # without --json a table for people, which the wrapper never reads
        ("stack", "init", "prod"),  # CI never creates prod
        (*UP, *PROD, "--config", "canny:imageTag=t"),  # the Automation API never passes it
        ("up", "--skip-preview", *PROD),  # no --yes
    ],
)
def test_a_call_the_wrapper_does_not_make_is_refused(tmp_path: Path, argv: tuple) -> None:
    reply = _answer(PulumiStandIn(FakeRehearsal(), tmp_path), *argv)
    assert reply.code == USAGE and reply.stderr.startswith("error: ")


def test_the_event_log_needs_the_debug_commands_as_pulumi_does(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(), tmp_path)
    assert _pin(pulumi, "t") == 0
    argv = (*UP, "--event-log", "events.jsonl", *PROD)
    assert _answer(pulumi, *argv).code == USAGE
    assert _answer(pulumi, *argv, debug=True).code == 0


def test_up_gets_the_stacks_config_and_keeps_the_last_good_outputs(tmp_path: Path) -> None:
    rehearsal = FakeRehearsal()
    pulumi = PulumiStandIn(rehearsal, tmp_path)
    secret = ("config", "set", "--secret", "--stack", "prod", "--non-interactive")
    assert _answer(pulumi, *secret, "canny:registryPassword", stdin="pw").code == 0
    assert _pin(pulumi, "one") == 0
    assert _answer(pulumi, *UP, *PROD).code == 0
    rehearsal.fails = True
    assert _pin(pulumi, "two") == 0
    failed = _answer(pulumi, *UP, *PROD)
    assert failed.code == FAILED and "is unhealthy" in failed.stderr
    assert [config["canny:imageTag"] for config in rehearsal.configs] == ["one", "two"]
    assert rehearsal.configs[1]["canny:registryPassword"] == "pw"
    # A failed update leaves the outputs of the last one that succeeded.
    assert json.loads(_answer(pulumi, *OUTPUTS).stdout) == {
        "imageTag": "one",
        "sshHostKey": "[secret]",
    }
    shown = json.loads(_answer(pulumi, *OUTPUTS[:3], "--show-secrets", *PROD).stdout)
    assert shown == {"imageTag": "one", "sshHostKey": "k"}
    history = ("stack", "history", "--json", "--page-size", "1", "--page", "1", *PROD)
    assert [update["result"] for update in json.loads(_answer(pulumi, *history).stdout)] == [
        "failed"
    ]


def test_a_failed_up_leaves_the_events_update_outcome_reads(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(fails=True), tmp_path)
    assert _pin(pulumi, "t") == 0
    argv = (*UP, "--event-log", "events.jsonl", *PROD)
    assert _answer(pulumi, *argv, debug=True).code == FAILED
    changes = update_outcome.Changes()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    for event in events:
        changes.record(auto.EngineEvent.from_json(event))
    assert changes.made == [
        "replace urn:pulumi:prod::canny::command:remote:Command::canny-prod-compose-up"
    ]
    assert "cancelEvent" in events[-1], "the Automation API reads the file until this event"


def test_the_pulumi_on_path_reaches_the_stand_in(tmp_path: Path) -> None:
    with (
        PulumiStandIn(FakeRehearsal(), tmp_path) as pulumi,
        subprocess.Popen(
            ["pulumi", "stack", "ls", "--json"],
            env=pulumi.environment({"PATH": "/usr/bin:/bin"}),
            stdout=subprocess.PIPE,
        ) as process,
    ):
        assert pulumi.serve(process, timeout_s=60) == 0
        assert process.stdout is not None
        assert json.loads(process.stdout.read()) == [{"name": "prod", "current": True}]


# What a CI job does with the Automation API (ci/pulumi_automation.py), printing each engine
# event it is handed.
AUTOMATION_UP = """
import json, os
from pulumi import automation as auto
from semver import VersionInfo
from ci import pulumi_automation
stack = auto.Stack.select("prod", pulumi_automation.workspace(os.environ))
try:
    stack.up(color="never", on_event=lambda event: print(json.dumps(
        {"pre": bool(event.resource_pre_event), "cancel": bool(event.cancel_event)}), flush=True))
except auto.CommandError:
    print("failed")
"""


def test_the_automation_api_gets_the_engine_events_over_grpc_as_from_ci_s_cli(
    tmp_path: Path,
) -> None:
    """The stand-in reports CI's CLI version, for which the Automation API takes the events
    over its gRPC service rather than a file (automation/_stack.py, _setup_event_log: newer
    than 3.205.0), so the rehearsal runs the route a real job takes."""
    assert VersionInfo.parse(ci_pulumi_version().removeprefix("v")) > VersionInfo(3, 205, 0)
    work = tmp_path / "work"
    work.mkdir()
    with (
        PulumiStandIn(FakeRehearsal(fails=True), tmp_path) as pulumi,
        subprocess.Popen(
            [sys.executable, "-c", AUTOMATION_UP],
            cwd=work,
            env=pulumi.environment(
                {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPOSITORY), "HOME": str(tmp_path)}
            ),
            stdout=subprocess.PIPE,
            text=True,
        ) as process,
    ):
        assert _pin(pulumi, "t") == 0
        assert pulumi.serve(process, timeout_s=120) == 0
        assert process.stdout is not None
        lines = process.stdout.read().splitlines()
    assert lines[-1] == "failed"
    events = [json.loads(line) for line in lines[:-1]]
    assert {"pre": True, "cancel": False} in events
    assert events[-1] == {"pre": False, "cancel": True}
