"""A stand-in `pulumi` executable: the real CLI cannot be installed here.

CI drives Pulumi through the Automation API (ci/pulumi_automation.py), which runs this
executable as the CLI. It records every invocation (arguments, the stdin of `config set`,
whether PULUMI_STACK, the Spaces secret, AWS_REGION and PULUMI_DEBUG_COMMANDS reached it,
and the folder it ran in) and answers `version`, `stack ls --json`, `stack output --json`,
`whoami --json`, `preview --json`, `stack export` and `stack history --json` with canned
JSON. It claims version 3.205.0: the Automation API hands newer CLIs a gRPC address for the
engine events and older ones a file (`--event-log FILE`, automation/_stack.py,
_setup_event_log), which this stand-in writes: the preview's summary event (which
Stack.preview requires), the canned events of an `up`, then the cancel event that ends the
Automation API's reading of the file (_watch_logs), also when the command then fails.
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
event_log = args[args.index("--event-log") + 1] if "--event-log" in args else None
events = []
if words[:1] == ["preview"]:
    events.append({{"summaryEvent": {{"resourceChanges": {{}}}}}})
if words[:1] == ["up"]:
    events += json.load(open(os.path.join(state, "events.json")))
fail_path = os.path.join(state, "fail")
spec = open(fail_path).read().split() if os.path.exists(fail_path) else []
rest = iter(words)
failing = bool(spec) and words[:1] == spec[:1] and all(word in rest for word in spec)
if event_log:
    with open(event_log, "a") as log:
        for event in [*events, {{"cancelEvent": {{}}}}]:
            log.write(json.dumps(event) + "\\n")
if failing:
    print("error: canned failure", file=sys.stderr)
    sys.exit(255)
if words == ["version"]:
    print("v3.205.0")
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
    done = {{"kind": "update", "startTime": "2026-11-25T10:00:00.000Z", "result": "succeeded"}}
    history = histories.get(args[args.index("--stack") + 1], [done])
    blank = {{"message": "", "environment": {{}}, "config": {{}}}}
    print(json.dumps([blank | update for update in history]))
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
        self.set_events([])
        (state / "preview.json").write_text(json.dumps(PREVIEW_JSON))
        (state / "whoami.json").write_text(json.dumps(WHOAMI))

    def set_stacks(self, stacks: list[dict]) -> None:
        listing = [{"current": False} | stack for stack in stacks]
        (self.state / "stacks.json").write_text(json.dumps(listing))

    def set_outputs(self, outputs: dict) -> None:
        (self.state / "outputs.json").write_text(json.dumps(outputs))

    def set_events(self, events: list[dict]) -> None:
        """The engine events an `up` sends before it ends, or before it fails (fail_on)."""
        (self.state / "events.json").write_text(json.dumps(events))

    def set_histories(self, histories: dict[str, list[dict]]) -> None:
        """What `stack history --stack NAME --json` answers, per stack (default: one
        finished update, which Stack.up and Stack.destroy read afterwards)."""
        (self.state / "histories.json").write_text(json.dumps(histories))

    def set_export(self, resources: list[dict]) -> None:
        """What `stack export` answers (for every stack): a deployment with these resources."""
        export = {"version": 3, "deployment": {"resources": resources}}
        (self.state / "export.json").write_text(json.dumps(export))

    def set_preview(self, preview: dict) -> None:
        (self.state / "preview.json").write_text(json.dumps(preview))

    def fail_on(self, words: str) -> None:
        """Make invocations exit non-zero whose command starts with the first of `words`
        and has the others in order among its words (`stack rm`, `up`, `destroy test-a`)."""
        (self.state / "fail").write_text(words)

    def records(self) -> list[dict]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def calls(self) -> list[list[str]]:
        """The commands run, without the `version` check and the `--non-interactive` the
        Automation API puts first on every one (automation/_cmd.py, PulumiCommand.run)."""
        return [
            record["args"][1:] if record["args"][:1] == ["--non-interactive"] else record["args"]
            for record in self.records()
            if record["args"] != ["version"]
        ]


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
    "SPACES_ACCESS_KEY_ID_PROD": "DO00EXAMPLEKEY",
    "SPACES_SECRET_ACCESS_KEY_PROD": "spaces-secret-x",
}
# Every variable a prod job must have (ci/stack_credentials.py). GitLab writes a File
# variable's value to a file and passes its path: any readable file stands in for the key.
PROD_CREDENTIALS = {
    "DIGITALOCEAN_TOKEN_PROD": "dop_v1_prod_token",
    "CANNY_SSH_KEY_FILE_PROD": __file__,
    "CANNY_SLACK_WEBHOOK_URL_PROD": "https://hooks.slack.com/services/T0/B0/prod",
}


def job_environ(**variables: str) -> dict[str, str]:
    """A minimal job environment for the code under test: the CI variables of whatever
    runs these tests (GitLab sets CI_REGISTRY_IMAGE, for one) must not leak in."""
    keep = {name: os.environ[name] for name in ("PATH", "FAKE_PULUMI_DIR") if name in os.environ}
    return {**keep, **variables}


STACK_LS = ["stack", "ls", "--json"]
# Stack.destroy's and Stack.up's options before the caller's, and the read of the update
# Stack.up and Stack.destroy make after it (automation/_stack.py).
DESTROY = ["destroy", "--skip-preview", "--yes", "--color", "never"]
UP = ["up", "--yes", "--skip-preview", "--policy-pack", "infra/policy", "--color", "never"]
LAST_UPDATE = ["stack", "history", "--json", "--page-size", "1", "--page", "1", "--stack"]


def on_stack(command: list[str], stack: str, *options: str) -> list[str]:
    """A stack operation as the Automation API runs it: the shared test config file for a
    test stack, the program run from the work folder, then the stack named."""
    config_file = [] if stack == "prod" else ["--config-file", "Pulumi.test.yaml"]
    return [*command, *options, *config_file, "--exec-kind", "auto.local", "--stack", stack]


def pins_of(stack: str, *pins: str) -> list[str]:
    """`config set-all` of plain pins, in the stack's config file."""
    config_file = [] if stack == "prod" else ["--config-file", "Pulumi.test.yaml"]
    plain = [argument for pin in pins for argument in ("--plaintext", pin)]
    return ["config", "set-all", "--stack", stack, *config_file, *plain]


def outputs_and_history(stack: str) -> list[list[str]]:
    """What Stack.up reads after the update: the outputs, masked then plain, and its history."""
    return [
        ["stack", "output", "--json", "--stack", stack],
        ["stack", "output", "--json", "--show-secrets", "--stack", stack],
        [*LAST_UPDATE, stack],
    ]
