"""A stand-in `pulumi` executable: the real CLI cannot be installed here.

It records every invocation (arguments, the stdin of `config set`, whether PULUMI_STACK,
the Spaces secret, AWS_REGION and PULUMI_DEBUG_COMMANDS reached it, and the folder it ran
in) and answers `stack ls --json`, `stack output --json`, `whoami --json`, `preview --json`,
`stack export` and `stack history --json` with canned JSON.
"""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

FAKE_PULUMI = """\
#!{python}
import json, os, sys
state = os.environ["FAKE_PULUMI_DIR"]
args = sys.argv[1:]
words = [arg for arg in args if not arg.startswith("-")]
stdin = sys.stdin.read() if words[:2] == ["config", "set"] else None
record = {{
    "args": args,
    "stdin": stdin,
    "PULUMI_STACK": os.environ.get("PULUMI_STACK"),
    "SPACES_SECRET_ACCESS_KEY": os.environ.get("SPACES_SECRET_ACCESS_KEY"),
    "AWS_REGION": os.environ.get("AWS_REGION"),
    "PULUMI_DEBUG_COMMANDS": os.environ.get("PULUMI_DEBUG_COMMANDS"),
    "cwd": os.getcwd(),
}}
with open(os.path.join(state, "calls.jsonl"), "a") as log:
    log.write(json.dumps(record) + "\\n")
fail_path = os.path.join(state, "fail")
if os.path.exists(fail_path) and " ".join(words).startswith(open(fail_path).read()):
    print("error: canned failure", file=sys.stderr)
    sys.exit(255)
answers = {{
    "stack ls": "stacks.json",
    "stack output": "outputs.json",
    "preview": "preview.json",
    "whoami": "whoami.json",
    "stack export": "export.json",
}}
for prefix, name in answers.items():
    if " ".join(words).startswith(prefix):
        sys.stdout.write(open(os.path.join(state, name)).read())
if words[:2] == ["stack", "history"]:
    histories = json.load(open(os.path.join(state, "histories.json")))
    print(json.dumps(histories.get(args[args.index("--stack") + 1], [])))
"""

# The shape of `pulumi preview --json` (pulumi/pulumi pkg/backend/display/json.go).
PREVIEW_JSON = {
    "steps": [
        {"op": "create", "urn": "urn:pulumi:test::canny::canny:infra:Host::test-host"},
        {
            "op": "update",
            "urn": "urn:pulumi:test::canny::digitalocean:index/droplet:Droplet::test-host-droplet",
            "diffReasons": ["userData"],
        },
    ],
    "changeSummary": {"create": 3, "update": 1, "same": 12},
}
WHOAMI = {"user": "ci", "organizations": ["acme"], "url": "https://api.pulumi.com"}


class FakePulumi:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.set_stacks([])
        self.set_outputs({})
        self.set_histories({})
        (state / "preview.json").write_text(json.dumps(PREVIEW_JSON))
        (state / "whoami.json").write_text(json.dumps(WHOAMI))

    def set_stacks(self, stacks: list[dict]) -> None:
        (self.state / "stacks.json").write_text(json.dumps(stacks))

    def set_outputs(self, outputs: dict) -> None:
        (self.state / "outputs.json").write_text(json.dumps(outputs))

    def set_histories(self, histories: dict[str, list[dict]]) -> None:
        """What `stack history --stack NAME --json` answers, per stack."""
        (self.state / "histories.json").write_text(json.dumps(histories))

    def set_export(self, resources: list[dict]) -> None:
        """What `stack export` answers (for every stack): a deployment with these resources."""
        export = {"version": 3, "deployment": {"resources": resources}}
        (self.state / "export.json").write_text(json.dumps(export))

    def set_preview(self, preview: dict) -> None:
        (self.state / "preview.json").write_text(json.dumps(preview))

    def fail_on(self, words: str) -> None:
        """Make invocations starting with `words` (e.g. `stack rm`, `up`) exit non-zero."""
        (self.state / "fail").write_text(words)

    def records(self) -> list[dict]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def calls(self) -> list[list[str]]:
        return [record["args"] for record in self.records()]


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    bin_dir = tmp_path / "bin"
    state = tmp_path / "fake-pulumi"
    bin_dir.mkdir()
    state.mkdir()
    executable = bin_dir / "pulumi"
    executable.write_text(FAKE_PULUMI.format(python=sys.executable))
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_DIR", str(state))
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    monkeypatch.chdir(tmp_path)
    return FakePulumi(state)


# The Spaces key prod's pipeline has (prod keeps results in Spaces by default).
SPACES_KEY = {
    "SPACES_ACCESS_KEY_ID": "DO00EXAMPLEKEY",
    "SPACES_SECRET_ACCESS_KEY": "spaces-secret-x",
}


def job_environ(**variables: str) -> dict[str, str]:
    """A minimal job environment for the code under test: the CI variables of whatever
    runs these tests (GitLab sets CI_REGISTRY_IMAGE, for one) must not leak in."""
    keep = {name: os.environ[name] for name in ("PATH", "FAKE_PULUMI_DIR") if name in os.environ}
    return {**keep, **variables}


STACK_LS = ["stack", "ls", "--json"]
# How the wrappers run an unattended update or destroy.
UNATTENDED = ["--yes", "--color", "never"]


def on_test_stack(command: list[str], stack: str, *options: str) -> list[str]:
    """The pulumi call the wrappers make for a command on a test stack: the stack named,
    never a prompt, and the shared test config file."""
    return [
        *command,
        "--stack",
        stack,
        "--non-interactive",
        "--config-file",
        "Pulumi.test.yaml",
        *options,
    ]
