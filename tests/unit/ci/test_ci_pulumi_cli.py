import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pulumi import automation as auto

from ci import pulumi_cli, stack_credentials
from tests.unit.ci.conftest import (
    DESTROY,
    LAST_UPDATE,
    PROD_CREDENTIALS,
    SPACES_KEY,
    STACK_LS,
    UP,
    FakePulumi,
    job_environ,
    on_stack,
    outputs_and_history,
    pins_of,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
OUTPUTS = {
    "url": "http://203.0.113.7",
    "ip": "203.0.113.7",
    "sshCommand": "ssh deploy@203.0.113.7",
    "runnerToken": "[secret]",
}


def run_wrapper(*argv: str, **variables: str) -> int:
    return pulumi_cli.main(list(argv), job_environ(**{"CI_COMMIT_SHA": SHA, **variables}))


def test_up_on_a_review_stack_uses_the_test_config_and_writes_the_dotenv(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test-feature-x") == 0
    assert fake_pulumi.calls() == [
        STACK_LS,
        ["stack", "init", "test-feature-x"],
        pins_of("test-feature-x", f"canny:imageTag={SHA}"),
        on_stack(UP, "test-feature-x"),
        *outputs_and_history("test-feature-x"),
    ]
    assert (tmp_path / "deploy.env").read_text() == (
        "DEPLOY_STACK=test-feature-x\nDEPLOY_URL=http://203.0.113.7\nDEPLOY_IP=203.0.113.7\n"
    )


def test_the_build_jobs_digests_pin_the_test_deploy(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    """deploy_test runs what build_backend and build_gateway pushed, by digest."""
    fake_pulumi.set_outputs(OUTPUTS)
    built = tmp_path / "image-digests"
    built.mkdir()
    (built / "backend").write_text("sha256:" + "a" * 64 + "\n")
    (built / "gateway").write_text("sha256:" + "b" * 64)
    assert run_wrapper("up", "--stack", "test", "--image-digests", str(built)) == 0
    (pins,) = [call for call in fake_pulumi.calls() if call[:2] == ["config", "set-all"]]
    assert "canny:backendDigest=sha256:" + "a" * 64 in pins
    assert "canny:gatewayDigest=sha256:" + "b" * 64 in pins


def test_a_bad_digest_is_refused_before_pulumi_runs(
    fake_pulumi: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = tmp_path / "image-digests"
    built.mkdir()
    (built / "backend").write_text("sha256:" + "a" * 64)
    (built / "gateway").write_text("latest")
    assert run_wrapper("up", "--stack", "test", "--image-digests", str(built)) == 1
    assert "gateway='latest'" in capsys.readouterr().err
    assert fake_pulumi.calls() == []


def test_up_on_prod_uses_the_default_stack_config(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    assert run_wrapper("up", "-s", "prod", **PROD_CREDENTIALS, **SPACES_KEY) == 0
    select, pins, up = [call for call in fake_pulumi.calls() if call[:2] != ["config", "set"]][1:4]
    assert select == ["stack", "select", "--stack", "prod"], select
    assert "--config-file" not in pins + up, f"prod must read Pulumi.prod.yaml, got {up}"
    assert up[:1] == ["up"] and up[-2:] == ["--stack", "prod"], up


def test_only_prod_refreshes_before_it_updates(fake_pulumi: FakePulumi) -> None:
    """Drift made by hand on prod is read back before the update plans."""
    fake_pulumi.set_outputs(OUTPUTS)
    fake_pulumi.set_stacks([{"name": "prod"}, {"name": "test"}])
    assert run_wrapper("up", "-s", "prod", **PROD_CREDENTIALS, **SPACES_KEY) == 0
    assert run_wrapper("up", "-s", "test") == 0
    ups = {call[-1]: call for call in fake_pulumi.calls() if call[0] == "up"}
    assert "--refresh" in ups["prod"], ups["prod"]
    assert "--refresh" not in ups["test"], ups["test"]


def test_the_update_s_engine_events_reach_the_caller(fake_pulumi: FakePulumi) -> None:
    """Through the Automation API's event log, with the variable that unhides its flag."""
    fake_pulumi.set_outputs(OUTPUTS)
    step = {"metadata": {"op": "update", "urn": "urn:pulumi:test::canny::x::y"}, "planning": False}
    fake_pulumi.set_events([{"resourcePreEvent": step}])
    seen: list[auto.EngineEvent] = []
    pulumi_cli.run("up", "test", job_environ(CI_COMMIT_SHA=SHA), on_event=seen.append)
    pre_events = [event.resource_pre_event for event in seen if event.resource_pre_event]
    assert [event.metadata.urn for event in pre_events] == ["urn:pulumi:test::canny::x::y"]
    (up,) = [record for record in fake_pulumi.records() if "up" in record["args"][:2]]
    assert "--event-log" in up["args"]
    assert up["PULUMI_DEBUG_COMMANDS"] == "true"


SPACES_STATE = "s3://canny-state?endpoint=fra1.digitaloceanspaces.com&s3ForcePathStyle=true"


def test_a_spaces_state_url_without_a_region_gets_the_endpoint_s_region(
    fake_pulumi: FakePulumi,
) -> None:
    """Without a region Pulumi's S3 client fails every call with MissingRegion."""
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test", PULUMI_BACKEND_URL_TEST=SPACES_STATE) == 0
    regions = {record["AWS_REGION"] for record in fake_pulumi.records()}
    assert regions == {"fra1"}, regions


@pytest.mark.parametrize(
    "variables",
    [
        {"PULUMI_BACKEND_URL_TEST": SPACES_STATE + "&region=fra1"},
        {"PULUMI_BACKEND_URL_TEST": SPACES_STATE, "AWS_REGION": "nyc3"},
        {"PULUMI_BACKEND_URL_TEST": "https://api.pulumi.com"},
    ],
)
def test_a_region_the_user_gave_is_left_alone(
    fake_pulumi: FakePulumi, variables: dict[str, str]
) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test", **variables) == 0
    regions = {record["AWS_REGION"] for record in fake_pulumi.records()}
    assert regions == {variables.get("AWS_REGION")}, regions


def test_an_s3_state_url_without_any_region_is_refused_before_pulumi_runs(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "s3://canny-state?endpoint=s3.example.net&s3ForcePathStyle=true"
    assert run_wrapper("up", "--stack", "test", PULUMI_BACKEND_URL_TEST=url) == 3
    assert "add `&region=<region>`" in capsys.readouterr().err
    assert fake_pulumi.calls() == []


def test_the_documented_state_url_carries_its_region() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "gitlab.md").read_text()
    (url,) = re.findall(r"`(s3://[^`]+)`", docs)
    query = parse_qs(urlsplit(url).query)
    assert query["region"] == ["fra1"], url
    assert query["endpoint"] == ["fra1.digitaloceanspaces.com"], url


@pytest.mark.parametrize("command", ["up", "preview"])
def test_ci_never_creates_prod(
    fake_pulumi: FakePulumi, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks([{"name": "acme/canny/test"}])
    assert run_wrapper(command, "--stack", "prod", **PROD_CREDENTIALS) == 3
    err = capsys.readouterr().err
    assert "stack prod does not exist in the backend https://api.pulumi.com" in err, err
    assert fake_pulumi.calls() == [STACK_LS, ["whoami", "--json"]]


@pytest.mark.parametrize("command", ["up", "preview"])
def test_every_preview_and_update_runs_the_policy_pack(
    fake_pulumi: FakePulumi, command: str
) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper(command, "--stack", "test") == 0
    main_step = fake_pulumi.calls()[3]
    assert main_step[0] == command
    assert main_step[main_step.index("--policy-pack") + 1] == "infra/policy", main_step


def test_a_policy_violation_fails_the_job(fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    """Pulumi exits non-zero on a mandatory violation; nothing is written afterwards."""
    fake_pulumi.fail_on("up")
    assert run_wrapper("up", "--stack", "test") == 1
    assert not (tmp_path / "deploy.env").exists()


@pytest.mark.parametrize(("command", "stack"), [("destroy", "test-a"), ("stack-rm", "test-a")])
def test_a_stack_that_is_already_gone_is_not_an_error(
    fake_pulumi: FakePulumi, command: str, stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks([{"name": "acme/canny/test"}])
    assert run_wrapper(command, "--stack", stack) == 0
    assert fake_pulumi.calls() == [STACK_LS], "nothing but the listing may run"
    assert "does not exist" in capsys.readouterr().out


def test_preview_saves_the_diff_and_prints_a_summary(
    fake_pulumi: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_wrapper("preview", "--stack", "test", "--preview-file", "diff.json") == 0
    preview = fake_pulumi.calls()[3]
    event_log = preview[preview.index("--event-log") : preview.index("--event-log") + 2]
    assert preview == [
        "preview",
        "--policy-pack",
        "infra/policy",
        "--config-file",
        "Pulumi.test.yaml",
        "--exec-kind",
        "auto.local",
        "--json",
        *event_log,
        "--stack",
        "test",
    ]
    assert "userData" in (tmp_path / "diff.json").read_text()
    out = capsys.readouterr().out
    assert "    create: 3\n    same: 12\n    update: 1\n" in out, out
    # The resources and the names of their changed properties, for a person to read.
    assert "    create canny:infra:Host test-host\n" in out, out
    assert "    update digitalocean:index/droplet:Droplet test-host-droplet (userData)\n" in out


def test_the_printed_diff_never_shows_a_value(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    """Values may be secrets: the log names properties, the artifact holds the rest."""
    step = {
        "op": "update",
        "urn": "urn:pulumi:test::canny::command:remote:Command::deploy",
        "detailedDiff": {"environment": {"kind": "update"}},
        "newState": {"inputs": {"environment": {"REGISTRY_PASSWORD": "hunter2-secret"}}},
    }
    fake_pulumi.set_preview({"steps": [step], "changeSummary": {"update": 1}})
    assert run_wrapper("preview", "--stack", "test") == 0
    out = capsys.readouterr().out
    assert "    update command:remote:Command deploy (environment)\n" in out, out
    assert "hunter2-secret" not in out


@pytest.mark.parametrize("stack", ["test", "test-a"])
def test_destroy_of_a_test_stack(fake_pulumi: FakePulumi, stack: str) -> None:
    fake_pulumi.set_stacks([{"name": stack}])
    assert run_wrapper("destroy", "--stack", stack) == 0
    assert fake_pulumi.calls() == [
        STACK_LS,
        ["stack", "select", "--stack", stack],
        on_stack(DESTROY, stack),
        [*LAST_UPDATE, stack],
    ]


def test_stack_rm_never_forces(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_stacks([{"name": "canny/test-a"}])
    assert run_wrapper("stack-rm", "--stack", "test-a") == 0
    assert fake_pulumi.calls() == [STACK_LS, ["stack", "rm", "--yes", "test-a"]]


@pytest.mark.parametrize("command", ["destroy", "stack-rm"])
@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--stack", "prod"], {}),
        (["--stack=prod"], {}),
        (["-s", "prod"], {}),
        (["-sprod"], {}),
        (["--st", "prod"], {}),
        (["--stack", "test", "--stack", "prod"], {}),
        (["--stack", "acme/canny/prod"], {}),
        (["--stack", "canny/prod"], {}),
        (["--stack", "test-a"], {"PULUMI_STACK": "prod"}),
        (["--stack", "test-a"], {"PULUMI_STACK": "acme/canny/prod"}),
        (["--stack", "PROD"], {}),
        (["--stack", " prod"], {}),
    ],
)
def test_prod_is_never_destroyed_or_removed(
    fake_pulumi: FakePulumi,
    command: str,
    argv: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_wrapper(command, *argv, **env) == 3
    assert fake_pulumi.calls() == [], "pulumi must not even be started"
    assert "refused" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["up", "--stack", "staging"], ["preview", "--stack", "other/prod"]]
)
def test_unknown_stacks_are_refused(fake_pulumi: FakePulumi, argv: list[str]) -> None:
    assert run_wrapper(*argv) == 3
    assert fake_pulumi.calls() == []


def test_pulumi_stack_from_the_environment_never_reaches_pulumi(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test", PULUMI_STACK="test-other") == 0
    leaked = [record for record in fake_pulumi.records() if record["PULUMI_STACK"] is not None]
    assert leaked == [], "PULUMI_STACK was forwarded to pulumi"


def test_pulumi_gets_the_wrapper_s_environment_not_the_process_s(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Automation API would start each call from os.environ (automation/_cmd.py), which
    in a job holds PULUMI_STACK and the other side's Spaces key; the process keeps them."""
    fake_pulumi.set_outputs(OUTPUTS)
    monkeypatch.setenv("PULUMI_STACK", "prod")
    monkeypatch.setenv("SPACES_SECRET_ACCESS_KEY", "prod-side-secret")
    assert run_wrapper("up", "--stack", "test") == 0
    seen = {(r["PULUMI_STACK"], r["SPACES_SECRET_ACCESS_KEY"]) for r in fake_pulumi.records()}
    assert seen == {(None, None)}, seen
    assert os.environ["PULUMI_STACK"] == "prod"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["up", "--stack", "test"], {"CI_COMMIT_SHA": ""}, "no image tag"),
        (["up", "--stack", "test", "--image-tag", "bad tag"], {}, "not a valid image tag"),
    ],
)
def test_up_needs_a_valid_image_tag(
    fake_pulumi: FakePulumi,
    argv: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_wrapper(*argv, **env) == 3
    assert message in capsys.readouterr().err
    assert fake_pulumi.calls() == []


@pytest.mark.parametrize(
    ("branch", "stack"),
    [("develop", "test"), ("feature/Add-Login", "test-feature-add-login")],
)
def test_branch_names_the_stack(fake_pulumi: FakePulumi, branch: str, stack: str) -> None:
    fake_pulumi.set_stacks([{"name": stack}])
    assert run_wrapper("destroy", "--branch", branch) == 0
    assert fake_pulumi.calls()[2] == on_stack(DESTROY, stack)


def test_destroy_by_production_branch_is_refused(fake_pulumi: FakePulumi) -> None:
    assert run_wrapper("destroy", "--branch", "production") == 3
    assert fake_pulumi.calls() == []


def test_stack_and_branch_are_exclusive(fake_pulumi: FakePulumi) -> None:
    with pytest.raises(SystemExit):
        run_wrapper("destroy", "--stack", "test-a", "--branch", "production")
    assert fake_pulumi.calls() == []


def test_explicit_image_tag_wins(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test", "--image-tag", "v1.2") == 0
    assert fake_pulumi.calls()[2][-1] == "canny:imageTag=v1.2"


@pytest.mark.parametrize(
    "outputs",
    [{"ip": "203.0.113.7"}, {**OUTPUTS, "url": "[secret]"}, {**OUTPUTS, "ip": "1.2.3.4\nX=1"}],
)
def test_up_fails_without_plain_url_and_ip_outputs(
    fake_pulumi: FakePulumi, tmp_path: Path, outputs: dict
) -> None:
    fake_pulumi.set_outputs(outputs)
    assert run_wrapper("up", "--stack", "test") == 1
    assert not (tmp_path / "deploy.env").exists(), "a half-written dotenv must not be left"


@pytest.mark.parametrize(
    ("failing", "argv", "calls"),
    [
        ("stack ls", ["up", "--stack", "test"], 1),
        ("stack init", ["up", "--stack", "test"], 2),
        ("config set-all", ["up", "--stack", "test"], 3),
        ("up", ["up", "--stack", "test"], 4),
        ("preview", ["preview", "--stack", "test"], 4),
    ],
)
def test_a_failing_pulumi_step_stops_the_wrapper(
    fake_pulumi: FakePulumi, tmp_path: Path, failing: str, argv: list[str], calls: int
) -> None:
    fake_pulumi.fail_on(failing)
    assert run_wrapper(*argv) == 1
    assert len(fake_pulumi.calls()) == calls, "nothing may run after a failed step"
    assert not (tmp_path / "deploy.env").exists()


def test_the_dotenv_never_contains_secret_outputs(fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test") == 0
    dotenv = (tmp_path / "deploy.env").read_text()
    assert "secret" not in dotenv and "ssh" not in dotenv, dotenv


def test_runs_as_a_module(fake_pulumi: FakePulumi) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ci.pulumi_cli", "destroy", "--stack", "prod"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[3],
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "refusing to destroy the prod stack" in result.stderr
    assert fake_pulumi.calls() == []


def test_secrets_from_ci_variables_go_to_pulumi_on_stdin_only(
    fake_pulumi: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    key_file = tmp_path / "ssh-key"
    key_file.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")
    secrets = {
        "CANNY_REGISTRY_USER_TEST": "deploy-token-user",
        "CANNY_REGISTRY_PASSWORD_TEST": "gldt-registry-password",
        "CANNY_RUNNER_TOKEN_TEST": "glrt-runner-token",
        "CANNY_SSH_KEY_FILE_TEST": str(key_file),
    }
    assert run_wrapper("up", "--stack", "test-a", **secrets) == 0
    set_calls = [r for r in fake_pulumi.records() if r["args"][:2] == ["config", "set"]]
    prefix = [
        *["config", "set", "--secret", "--stack", "test-a", "--non-interactive"],
        *["--config-file", "Pulumi.test.yaml"],
    ]
    assert [(r["args"], r["stdin"]) for r in set_calls] == [
        ([*prefix, "canny:sshPrivateKey"], key_file.read_text()),
        ([*prefix, "canny:registryUser"], "deploy-token-user"),
        ([*prefix, "canny:registryPassword"], "gldt-registry-password"),
        ([*prefix, "canny:runnerToken"], "glrt-runner-token"),
    ]
    printed = capsys.readouterr()
    every_arg = " ".join(" ".join(args) for args in fake_pulumi.calls())
    for value in ("registry-password", "runner-token", "PRIVATE KEY"):
        assert value not in every_arg, f"{value} was passed on a command line"
        assert value not in printed.out + printed.err, f"{value} was printed"


def test_ssh_key_must_be_a_file_variable(fake_pulumi: FakePulumi) -> None:
    assert run_wrapper("up", "--stack", "test", CANNY_SSH_KEY_FILE_TEST="-----BEGIN OPENSSH") == 3
    assert fake_pulumi.calls() == []


def test_the_registry_image_follows_the_project(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    image = "registry.gitlab.com/acme/canny-platform"
    assert run_wrapper("up", "--stack", "test", CI_REGISTRY_IMAGE=image) == 0
    assert fake_pulumi.calls()[2][-4:] == [
        "--plaintext",
        f"canny:imageTag={SHA}",
        "--plaintext",
        f"canny:registryImage={image}",
    ]


def test_destroy_sets_no_secrets(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_stacks([{"name": "test"}])
    assert run_wrapper("destroy", "--stack", "test", CANNY_RUNNER_TOKEN_TEST="glrt-x") == 0
    assert [call[0] for call in fake_pulumi.calls()] == ["stack", "stack", "destroy", "stack"]


def test_every_up_carries_the_job_as_deploy_id_so_a_retry_redeploys(
    fake_pulumi: FakePulumi,
) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "test", CI_JOB_ID="7001") == 0
    assert run_wrapper("up", "--stack", "test", CI_JOB_ID="7002") == 0
    pins = [call for call in fake_pulumi.calls() if call[:2] == ["config", "set-all"]]
    assert [pin[-1] for pin in pins] == ["canny:deployId=7001", "canny:deployId=7002"]


def test_previews_and_runs_outside_ci_set_no_deploy_id(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("preview", "--stack", "test", CI_JOB_ID="7001") == 0
    assert run_wrapper("up", "--stack", "test") == 0
    assert "canny:deployId" not in " ".join(" ".join(call) for call in fake_pulumi.calls())


def write_spaces_config(path: Path, *extra: str) -> None:
    """A stack file keeping results in Spaces, in the folder the wrapper runs in."""
    lines = ["config:", "  canny:domain: example.com", "  canny:resultsStore: spaces", *extra]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("command", "stack", "config_file"),
    [
        ("preview", "prod", "Pulumi.prod.yaml"),
        ("up", "prod", "Pulumi.prod.yaml"),
        # Destroying a test stack's bucket empties it through the S3 API too.
        ("destroy", "test-a", "Pulumi.test.yaml"),
    ],
)
def test_a_stack_with_results_in_spaces_needs_a_spaces_key_before_pulumi_changes_anything(
    fake_pulumi: FakePulumi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    stack: str,
    config_file: str,
) -> None:
    write_spaces_config(tmp_path / config_file)
    fake_pulumi.set_stacks([{"name": f"acme/canny/{stack}"}])
    credentials = PROD_CREDENTIALS if stack == "prod" else {}
    assert run_wrapper(command, "--stack", stack, **credentials) == 3
    assert fake_pulumi.calls() == [STACK_LS]
    error = capsys.readouterr().err
    side = "_PROD" if stack == "prod" else "_TEST"
    assert f"SPACES_ACCESS_KEY_ID{side} and SPACES_SECRET_ACCESS_KEY{side}" in error
    assert "canny:resultsStore: spaces" in error


def test_the_spaces_key_reaches_pulumi_by_environment_only(
    fake_pulumi: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spaces_config(tmp_path / "Pulumi.prod.yaml")
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "prod", **PROD_CREDENTIALS, **SPACES_KEY) == 0
    records = fake_pulumi.records()
    assert {record["SPACES_SECRET_ACCESS_KEY"] for record in records} == {"spaces-secret-x"}
    every_arg = " ".join(" ".join(record["args"]) for record in records)
    printed = capsys.readouterr()
    for value in SPACES_KEY.values():
        assert value not in every_arg, f"{value} was passed on a command line"
        assert value not in printed.out + printed.err, f"{value} was printed"


@pytest.mark.parametrize("given", ["SPACES_ACCESS_KEY_ID_TEST", "SPACES_SECRET_ACCESS_KEY_TEST"])
def test_half_a_spaces_key_is_refused_on_any_stack(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    fake_pulumi.set_stacks([{"name": "test"}])
    assert run_wrapper("preview", "--stack", "test", **{given: "half-a-key"}) == 3
    assert fake_pulumi.calls() == [STACK_LS]
    (missing,) = {"SPACES_ACCESS_KEY_ID_TEST", "SPACES_SECRET_ACCESS_KEY_TEST"} - {given}
    assert f"{given} is set but {missing} is not" in capsys.readouterr().err


def test_a_spaces_key_in_the_stack_config_needs_no_variables(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    write_spaces_config(
        tmp_path / "Pulumi.prod.yaml",
        "  digitalocean:spacesAccessId: DO00EXAMPLEKEY",
        "  digitalocean:spacesSecretKey:",
        "    secure: AAABAExampleCiphertext",
    )
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    assert run_wrapper("preview", "--stack", "prod", **PROD_CREDENTIALS) == 0


def test_stacks_with_results_on_their_disk_need_no_spaces_key(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  canny:resultsStore: disk\n")
    assert run_wrapper("preview", "--stack", "test-a") == 0


def test_prod_keeps_results_in_spaces_by_default_so_it_needs_the_key(
    fake_pulumi: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pulumi.prod.yaml need not name the store: prod's default (infra/stack_defaults.py) is
    Spaces, and the wrapper must judge by the same default the program uses."""
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  canny:region: fra1\n")
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    assert run_wrapper("up", "--stack", "prod", **PROD_CREDENTIALS) == 3
    assert fake_pulumi.calls() == [STACK_LS]
    assert "SPACES_ACCESS_KEY_ID_PROD and SPACES_SECRET_ACCESS_KEY_PROD" in capsys.readouterr().err
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  canny:resultsStore: volume\n")
    fake_pulumi.set_outputs(OUTPUTS)
    assert run_wrapper("up", "--stack", "prod", **PROD_CREDENTIALS) == 0


def test_every_variable_the_wrapper_reads_is_in_the_gitlab_variable_table() -> None:
    """docs/gitlab.md's table is what a user creates the CI/CD variables from."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "gitlab.md").read_text()
    table_rows = [line for line in doc.splitlines() if line.startswith("| `")]
    documented = {name for row in table_rows for name in row.split("|")[1].split("`")[1::2]}
    read = {
        credential.variable(stack)
        for credential in stack_credentials.CREDENTIALS
        for stack in ("prod", "test")
    }
    assert read <= documented, f"not in docs/gitlab.md's variable table: {read - documented}"
