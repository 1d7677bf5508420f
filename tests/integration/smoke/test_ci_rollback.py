"""ci.rollback and ci.prod_release over real SSH, running the real infra/remote scripts on a
stand-in host."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci import prod_release, rollback
from ci.ssh import SshTarget
from tests.conftest import pick_free_port
from tests.integration.remote.conftest import RemoteHost


def rollback_script(host: RemoteHost, gate_url: str) -> str:
    """A launcher on the host pointing the readiness gate at the stand-in gateway; in prod
    the gate's default (the droplet's own port 80) applies."""
    launcher = host.app_dir / "bin" / "rollback-under-test.sh"
    launcher.write_text(
        f"CANNY_GATE_URL='{gate_url}' CANNY_GATE_TIMEOUT=2 CANNY_GATE_INTERVAL=0.2 "
        f"exec bash {host.app_dir / 'bin' / 'rollback.sh'}\n"
    )
    return str(launcher)


def run_rollback(host: RemoteHost, script: str) -> int:
    target = host.target
    return rollback.main(
        [
            "--host",
            target.host,
            "--port",
            str(target.port),
            "--user",
            target.user,
            "--key-file",
            str(target.key_file),
            "--script",
            script,
            "--timeout",
            "60",
        ]
    )


def deployed(host: RemoteHost, current: str, previous: str | None) -> None:
    (host.app_dir / "image_tag").write_text(current + "\n")
    if previous:
        (host.app_dir / "image_tag.previous").write_text(previous + "\n")
    env = f"REGISTRY_IMAGE=registry.example/canny\nIMAGE_TAG={current}\n"
    (host.app_dir / ".env").write_text(env)


def test_rollback_brings_the_previous_tag_back(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "bad-sha", previous="good-sha")
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 0
    assert (remote_host.app_dir / "image_tag").read_text().strip() == "good-sha"
    ups = [call for call in remote_host.calls() if "up" in call["argv"]]
    assert ups, "compose was not brought up again"
    assert ups[-1]["image_tag"] == "good-sha", f"compose came up on another tag: {ups}"
    assert "runs the previous image tag again" in capsys.readouterr().out


def test_first_deploy_has_nothing_to_roll_back(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "first-sha", previous=None)
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 3
    assert "no previous image tag" in capsys.readouterr().err
    restarts = [call for call in remote_host.compose_calls() if call[:1] in (["pull"], ["up"])]
    assert restarts == [], "nothing may be pulled or restarted"


def test_a_previous_tag_that_never_gets_ready_fails_loudly(
    remote_host: RemoteHost, gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed(remote_host, "bad-sha", previous="also-bad-sha")
    remote_host.control("unhealthy", "backend-1")
    assert run_rollback(remote_host, rollback_script(remote_host, gateway_url)) == 1
    assert "the previous tag is not ready either" in capsys.readouterr().err


def test_an_unreachable_host_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    target = SshTarget("127.0.0.1", "deploy", pick_free_port(), key_file=None)
    assert rollback.rollback(target, timeout=5) == 1
    assert "cannot connect to deploy@127.0.0.1" in capsys.readouterr().err


# A stand-in `pulumi` for ci.prod_release: `up` does what the real program's Deploy
# component does on the host (infra/deploy.py: deploy.sh with the pinned tag, then gate.sh)
# over the real sshd, and, like Pulumi, records its inputs (tag and deploy id) in its state
# only when the whole update succeeded, and does nothing when they equal the state's. It
# answers the calls of Pulumi's Automation API (ci/pulumi_automation.py): `version` (3.205.0,
# so the engine events come through a file: automation/_stack.py, _setup_event_log), the
# pins of `config set-all`, `stack history` after each update.
# With `--event-log FILE` it writes engine events as Pulumi does (sdk/go/common/apitype/
# events.go): a planning resourcePreEvent, an executed one before it runs the deploy, and
# last the cancelEvent that ends the Automation API's reading (_stack.py, _watch_logs). A
# `refuse` file in its state makes `up` fail before any step runs, the way a lock (no events
# at all) or a mandatory policy violation (planning events only) does.
STAND_IN_PULUMI = """\
#!{python}
import atexit, json, os, shlex, sys
from pathlib import Path
from ci.ssh import SshTarget, run, session

state = Path(os.environ["FAKE_PULUMI_DIR"])
args = sys.argv[1:]
words = [arg for arg in args if not arg.startswith("-")]
event_log = args[args.index("--event-log") + 1] if "--event-log" in args else None
DEPLOY_URN = "urn:pulumi:prod::canny::canny:infra:Deploy$command:remote:Command::deploy"

def event(planning):
    if event_log and os.environ.get("PULUMI_DEBUG_COMMANDS") == "true":
        pre = {{"metadata": {{"op": "replace", "urn": DEPLOY_URN}}, "planning": planning}}
        with open(event_log, "a") as log:
            log.write(json.dumps({{"resourcePreEvent": pre}}) + "\\n")
if event_log:
    atexit.register(lambda: open(event_log, "a").write(json.dumps({{"cancelEvent": {{}}}}) + "\\n"))
config_file = state / "config.json"
if words == ["version"]:
    print("v3.205.0")
elif words[:2] == ["config", "set"]:
    sys.stdin.read()
elif words[:2] == ["config", "set-all"]:
    config = json.loads(config_file.read_text()) if config_file.exists() else {{}}
    config.update(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--plaintext")
    config_file.write_text(json.dumps(config))
elif words[:2] == ["stack", "history"]:
    done = {{"kind": "update", "startTime": "2026-11-25T10:00:00.000Z", "result": "succeeded"}}
    print(json.dumps([done | {{"message": "", "environment": {{}}, "config": {{}}}}]))
elif words[:2] == ["stack", "ls"]:
    print(json.dumps([{{"name": "prod", "current": True}}]))
elif words[:1] == ["whoami"]:
    print(json.dumps({{"url": "https://api.pulumi.example"}}))
elif words[:2] == ["stack", "output"]:
    inputs_file = state / "inputs.json"
    outputs = {{"url": os.environ["FAKE_URL"], "ip": "127.0.0.1"}}
    if inputs_file.exists():
        outputs["imageTag"] = json.loads(inputs_file.read_text())["imageTag"]
    print(json.dumps(outputs))
elif words[:1] == ["up"]:
    pinned = json.loads(config_file.read_text())
    inputs = {{"imageTag": pinned["canny:imageTag"], "deployId": pinned.get("canny:deployId")}}
    inputs_file = state / "inputs.json"
    if inputs_file.exists() and json.loads(inputs_file.read_text()) == inputs:
        sys.exit(0)
    tag = inputs["imageTag"]
    refuse = state / "refuse"
    if refuse.exists():
        if refuse.read_text() == "policy":
            event(planning=True)
            print("error: preview failed: mandatory policy violation", file=sys.stderr)
        else:
            print("error: the stack is currently locked by 1 lock(s).", file=sys.stderr)
        sys.exit(255)
    event(planning=True)
    event(planning=False)
    with (state / "ups.log").open("a") as log:
        log.write(tag + "\\n")
    where = {{"cwd": os.getcwd(), "PYTHONPATH": os.environ.get("PYTHONPATH")}}
    with (state / "up-dirs.jsonl").open("a") as log:
        log.write(json.dumps(where) + "\\n")
    app = os.environ["FAKE_APP_DIR"]
    target = SshTarget("127.0.0.1", os.environ["FAKE_USER"], int(os.environ["FAKE_PORT"]),
                       Path(os.environ["FAKE_KEY"]))
    gate_env = (f"CANNY_GATE_URL={{shlex.quote(os.environ['FAKE_GATE_URL'])}} "
                "CANNY_GATE_TIMEOUT=2 CANNY_GATE_INTERVAL=0.2")
    with session(target) as client:
        for command in (f"bash {{app}}/bin/deploy.sh registry.example/canny {{tag}}",
                        f"{{gate_env}} bash {{app}}/bin/gate.sh"):
            result = run(client, command, stdin="", timeout=60)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            if not result.ok:
                sys.exit(255)
    inputs_file.write_text(json.dumps(inputs))
"""


@dataclass
class ProdStack:
    host: RemoteHost
    state: Path
    environ: dict[str, str]

    def release(
        self,
        tag: str,
        monkeypatch: pytest.MonkeyPatch,
        smoke_fails: bool,
        job: str = "1",
        commit: str | None = None,
    ) -> int:
        """Release `tag`, which is the commit too unless `commit` is given."""
        monkeypatch.setattr(prod_release, "smoke_test", lambda url, wait: 1 if smoke_fails else 0)
        environ = {**self.environ, "CI_COMMIT_SHA": commit or tag, "CI_JOB_ID": job}
        return prod_release.main(["--smoke-wait", "0", "--image-tag", tag], environ)

    def state_tag(self) -> str:
        return json.loads((self.state / "inputs.json").read_text())["imageTag"]

    def host_tag(self) -> str:
        return (self.host.app_dir / "image_tag").read_text().strip()

    def ups(self) -> list[str]:
        return (self.state / "ups.log").read_text().split()

    def up_dirs(self) -> list[dict]:
        """Where each `up` that deployed ran, and the PYTHONPATH it had."""
        lines = (self.state / "up-dirs.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def refuse_updates(self, kind: str) -> None:
        """Make every later `up` fail before it changes anything: "lock" or "policy"."""
        (self.state / "refuse").write_text(kind)


@pytest.fixture
def prod_stack(
    remote_host: RemoteHost, gateway_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ProdStack:
    bin_dir, state = tmp_path / "pulumi-bin", tmp_path / "pulumi-state"
    bin_dir.mkdir()
    state.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text(STAND_IN_PULUMI.format(python=sys.executable))
    pulumi.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    target = remote_host.target
    environ = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_PULUMI_DIR": str(state),
        "FAKE_URL": gateway_url.split("/api/")[0],
        "FAKE_GATE_URL": gateway_url,
        "FAKE_APP_DIR": str(remote_host.app_dir),
        "FAKE_USER": target.user,
        "FAKE_PORT": str(target.port),
        "FAKE_KEY": str(target.key_file),
        # What prod's pipeline must have (ci/stack_credentials.py), the Spaces key included:
        # prod keeps results in Spaces by default.
        "DIGITALOCEAN_TOKEN_PROD": "dop_v1_prod_token",
        "CANNY_SSH_KEY_FILE_PROD": str(target.key_file),
        "CANNY_SLACK_WEBHOOK_URL_PROD": "https://hooks.slack.com/services/T0/B0/prod",
        "SPACES_ACCESS_KEY_ID_PROD": "DO00EXAMPLEKEY",
        "SPACES_SECRET_ACCESS_KEY_PROD": "spaces-secret-x",
    }
    return ProdStack(remote_host, state, environ)


def test_a_good_release_stays(prod_stack: ProdStack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert prod_stack.release("good-1", monkeypatch, smoke_fails=False, job="1") == 0
    assert prod_stack.release("good-2", monkeypatch, smoke_fails=False, job="2") == 0
    assert (prod_stack.state_tag(), prod_stack.host_tag()) == ("good-2", "good-2")
    assert prod_stack.ups() == ["good-1", "good-2"]


@pytest.mark.parametrize(
    ("breakage", "smoke_fails", "cause"),
    [
        ("up_fails_for", False, "pulumi up failed: compose up or the readiness gate"),
        ("unhealthy_for", False, "pulumi up failed: compose up or the readiness gate"),
        (None, True, "the smoke test failed"),
    ],
    ids=["release never starts", "release unhealthy at the gate", "smoke test fails"],
)
def test_a_broken_release_returns_prod_to_the_previous_tag_and_fails(
    prod_stack: ProdStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    breakage: str | None,
    smoke_fails: bool,
    cause: str,
) -> None:
    assert prod_stack.release("good-1", monkeypatch, smoke_fails=False, job="1") == 0
    if breakage:
        prod_stack.host.control(breakage, "bad-2")
    assert prod_stack.release("bad-2", monkeypatch, smoke_fails=smoke_fails, job="2") == 1
    err = capsys.readouterr().err
    assert f"RELEASE bad-2 FAILED: {cause}" in err, err
    assert "prod runs good-1 again" in err, err
    assert prod_stack.ups() == ["good-1", "bad-2", "good-1"], "rollback must go through Pulumi"
    assert prod_stack.state_tag() == "good-1", "Pulumi's state must show what runs"
    assert prod_stack.host_tag() == "good-1", "the host must run the previous tag"
    ups = [call for call in prod_stack.host.calls("docker") if call["argv"][1:2] == ["up"]]
    assert ups[-1]["image_tag"] == "good-1"


@pytest.mark.parametrize("kind", ["lock", "policy"])
def test_a_release_that_never_started_leaves_prod_alone_and_says_so(
    prod_stack: ProdStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    """A locked stack or a policy violation: no rollback (it would fail on the same lock or
    redeploy what is known to be good), and no "prod may be down" either."""
    assert prod_stack.release("good-1", monkeypatch, smoke_fails=False, job="1") == 0
    prod_stack.refuse_updates(kind)
    assert prod_stack.release("bad-2", monkeypatch, smoke_fails=False, job="2") == 1
    err = capsys.readouterr().err
    assert "RELEASE bad-2 FAILED before it changed anything" in err, err
    assert "Prod is untouched and still runs good-1" in err, err
    assert "rolling" not in err and "may be down" not in err, err
    assert prod_stack.ups() == ["good-1"], "nothing may be deployed, not even a rollback"
    assert (prod_stack.state_tag(), prod_stack.host_tag()) == ("good-1", "good-1")


def test_a_failed_first_release_has_nothing_to_return_to(
    prod_stack: ProdStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_stack.host.control("up_fails_for", "bad-1")
    assert prod_stack.release("bad-1", monkeypatch, smoke_fails=False) == 1
    assert "no previous release to return to" in capsys.readouterr().err
    assert prod_stack.ups() == ["bad-1"]


def test_retrying_the_failed_job_really_deploys_again(
    prod_stack: ProdStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The smoke test failed for a passing reason (say, the registry was slow): the retried
    job (a new job id) deploys the same tag again instead of finding nothing to change."""
    assert prod_stack.release("good-1", monkeypatch, smoke_fails=False, job="1") == 0
    assert prod_stack.release("new-2", monkeypatch, smoke_fails=True, job="2") == 1
    assert prod_stack.release("new-2", monkeypatch, smoke_fails=False, job="3") == 0
    assert prod_stack.ups() == ["good-1", "new-2", "good-1", "new-2"]
    assert (prod_stack.state_tag(), prod_stack.host_tag()) == ("new-2", "new-2")


def commit_release(git: str, repo: Path, name: str) -> str:
    """A commit whose stack file says which release it is; returns its SHA (CI's image tag)."""
    (repo / "Pulumi.prod.yaml").write_text(f"config:\n  canny:release: {name}\n")
    identity = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    subprocess.run([git, "-C", str(repo), "add", "Pulumi.prod.yaml"], check=True)
    subprocess.run([git, *identity, "-C", str(repo), "commit", "-q", "-m", name], check=True)
    head = subprocess.run(
        [git, "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return head.stdout.strip()


def test_the_rollback_runs_the_previous_release_s_own_program_and_stack_file(
    prod_stack: ProdStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    require_tool: Callable[[str], str],
) -> None:
    """Not the failed commit's program with only the tag changed: a combination nobody ran."""
    git = require_tool("git")
    repo = tmp_path / "clone"
    subprocess.run([git, "init", "-q", "-b", "production", str(repo)], check=True)
    monkeypatch.chdir(repo)
    good = commit_release(git, repo, "good")
    good_tag = f"tested-{good}"
    assert prod_stack.release(good_tag, monkeypatch, smoke_fails=False, job="1", commit=good) == 0
    bad = commit_release(git, repo, "bad")
    bad_tag = f"tested-{bad}"
    assert prod_stack.release(bad_tag, monkeypatch, smoke_fails=True, job="2", commit=bad) == 1
    assert prod_stack.ups() == [good_tag, bad_tag, good_tag]
    release_dir, failed_dir, rollback_dir = (Path(up["cwd"]) for up in prod_stack.up_dirs())
    assert release_dir == failed_dir == repo
    assert rollback_dir != repo, "the rollback ran the failed commit's program"
    assert "canny:release: good" in (rollback_dir / "Pulumi.prod.yaml").read_text()
    assert prod_stack.up_dirs()[-1]["PYTHONPATH"].split(os.pathsep)[0] == str(rollback_dir)
    assert (prod_stack.state_tag(), prod_stack.host_tag()) == (good_tag, good_tag)
    assert f"rolling prod back to release {good_tag} as a whole" in capsys.readouterr().out
