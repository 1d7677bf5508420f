"""The rehearsal's `pulumi` (infra/rehearse/pulumi_standin.py) without droplets: it answers
the calls CI's wrapper makes as the Pulumi CLI does, refuses any other, and hands `up` the
stack's config; the rehearsal itself is a fake here (the droplets' side:
tests/integration/rehearsal/test_failed_release.py)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ci import update_outcome
from infra.rehearse.pulumi_standin import FAILED, USAGE, PulumiStandIn
from infra.rehearse.remote_steps import StepError

COMPOSE_UP = ("command:remote:Command", "canny-prod-compose-up")


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
    request = {"stdin": stdin, "debug_commands": debug}
    return pulumi.answer(list(argv), pulumi.folder, request)


UP = ("up", "--stack", "prod", "--non-interactive", "--yes", "--color", "never", "--refresh")


def test_stack_calls_answer_for_the_rehearsed_stack_only(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(), tmp_path)
    assert json.loads(_answer(pulumi, "stack", "ls", "--json").stdout) == [{"name": "prod"}]
    assert _answer(pulumi, "stack", "select", "--stack", "prod", "--non-interactive").code == 0
    assert _answer(pulumi, "stack", "select", "--stack", "test", "--non-interactive").code == USAGE
    assert json.loads(_answer(pulumi, "stack", "output", "--stack", "prod", "--json").stdout) == {}


@pytest.mark.parametrize(
    "argv",
    [
        ("destroy", "--stack", "prod", "--yes"),
        ("stack", "ls"),  # without --json a table for people, which the wrapper never reads
        (*UP, "--skip-preview", "--config", "canny:imageTag=t"),
        ("up", "--stack", "prod", "--config", "canny:imageTag=t"),  # no --yes
    ],
)
def test_a_call_the_wrapper_does_not_make_is_refused(tmp_path: Path, argv: tuple) -> None:
    reply = _answer(PulumiStandIn(FakeRehearsal(), tmp_path), *argv)
    assert reply.code == USAGE and reply.stderr.startswith("error: ")


def test_the_event_log_needs_the_debug_commands_as_pulumi_does(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(), tmp_path)
    argv = (*UP, "--event-log", "events.jsonl", "--config", "canny:imageTag=t")
    assert _answer(pulumi, *argv).code == USAGE
    assert _answer(pulumi, *argv, debug=True).code == 0


def test_up_gets_the_stacks_config_and_keeps_the_last_good_outputs(tmp_path: Path) -> None:
    rehearsal = FakeRehearsal()
    pulumi = PulumiStandIn(rehearsal, tmp_path)
    secret = ("config", "set", "--secret", "--stack", "prod", "--non-interactive")
    assert _answer(pulumi, *secret, "canny:registryPassword", stdin="pw").code == 0
    assert _answer(pulumi, *UP, "--config", "canny:imageTag=one").code == 0
    rehearsal.fails = True
    failed = _answer(pulumi, *UP, "--config", "canny:imageTag=two")
    assert failed.code == FAILED and "is unhealthy" in failed.stderr
    assert [config["canny:imageTag"] for config in rehearsal.configs] == ["one", "two"]
    assert rehearsal.configs[1]["canny:registryPassword"] == "pw"
    # A failed update leaves the outputs of the last one that succeeded.
    outputs = json.loads(_answer(pulumi, "stack", "output", "--stack", "prod", "--json").stdout)
    assert outputs == {"imageTag": "one", "sshHostKey": "[secret]"}


def test_a_failed_up_leaves_the_events_update_outcome_reads(tmp_path: Path) -> None:
    pulumi = PulumiStandIn(FakeRehearsal(fails=True), tmp_path)
    argv = (*UP, "--event-log", "events.jsonl", "--config", "canny:imageTag=t")
    assert _answer(pulumi, *argv, debug=True).code == FAILED
    assert update_outcome.changes_in(tmp_path / "events.jsonl") == [
        "replace urn:pulumi:prod::canny::command:remote:Command::canny-prod-compose-up"
    ]


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
        assert json.loads(process.stdout.read()) == [{"name": "prod"}]
