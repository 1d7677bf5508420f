"""ci/stack_credentials.py through ci.pulumi_cli: each side's own variables, prod's required
and checked before Pulumi runs, prod only from the protected `production` branch."""

from pathlib import Path

import pytest

from ci import pulumi_cli, stack_credentials
from tests.unit.ci.conftest import PROD_CREDENTIALS, SPACES_KEY, FakePulumi, job_environ

SHA = "0123456789abcdef0123456789abcdef01234567"
# What GitLab predefines in a job on the protected `production` branch
# (https://docs.gitlab.com/ci/variables/predefined_variables/).
PRODUCTION_JOB = {
    "GITLAB_CI": "true",
    "CI_COMMIT_BRANCH": "production",
    "CI_COMMIT_REF_NAME": "production",
    "CI_COMMIT_REF_PROTECTED": "true",
}


def run_wrapper(*argv: str, **variables: str) -> int:
    return pulumi_cli.main(list(argv), job_environ(CI_COMMIT_SHA=SHA, **variables))


@pytest.mark.parametrize("missing", sorted(PROD_CREDENTIALS))
@pytest.mark.parametrize("command", ["preview", "up"])
def test_a_prod_job_missing_a_prod_secret_fails_before_pulumi_runs(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str], command: str, missing: str
) -> None:
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    given = {name: value for name, value in PROD_CREDENTIALS.items() if name != missing}
    assert run_wrapper(command, "--stack", "prod", **given, **SPACES_KEY) == 3
    assert fake_pulumi.calls() == []
    assert f"stack prod needs {missing}" in capsys.readouterr().err


def test_the_slack_webhook_reaches_prod_on_every_deploy(fake_pulumi: FakePulumi) -> None:
    """It used to live only in an operator's local Pulumi.prod.yaml, so CI dropped it."""
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    fake_pulumi.set_outputs({"url": "https://example.com", "ip": "203.0.113.7"})
    assert run_wrapper("up", "--stack", "prod", **PROD_CREDENTIALS, **SPACES_KEY) == 0
    secrets = {
        record["args"][-1]: record["stdin"]
        for record in fake_pulumi.records()
        if record["args"][:2] == ["config", "set"]
    }
    assert secrets["canny:slackWebhookUrl"] == PROD_CREDENTIALS["CANNY_SLACK_WEBHOOK_URL_PROD"]
    assert (
        secrets["canny:sshPrivateKey"]
        == Path(PROD_CREDENTIALS["CANNY_SSH_KEY_FILE_PROD"]).read_text()
    )


@pytest.mark.parametrize(
    "name", ["DIGITALOCEAN_TOKEN", "CANNY_SSH_KEY_FILE", "PULUMI_ACCESS_TOKEN"]
)
def test_a_variable_without_a_side_is_refused(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert run_wrapper("preview", "--stack", "test", **{name: "value"}) == 3
    assert fake_pulumi.calls() == []
    assert f"{name} set without a side" in capsys.readouterr().err


def test_each_stack_hands_pulumi_only_its_own_sides_credentials() -> None:
    both_sides = {
        "DIGITALOCEAN_TOKEN_PROD": "prod-token",
        "DIGITALOCEAN_TOKEN_TEST": "test-token",
        "PULUMI_ACCESS_TOKEN_PROD": "pul-prod",
        "PULUMI_ACCESS_TOKEN_TEST": "pul-test",
        "CANNY_SSH_KEY_FILE_PROD": __file__,
        "CANNY_SLACK_WEBHOOK_URL_PROD": "https://hooks.slack.com/services/prod",
        "HOME": "/root",
    }
    prod = stack_credentials.pulumi_environment("prod", both_sides)
    test = stack_credentials.pulumi_environment("test-feature-x", both_sides)
    assert prod == {
        "DIGITALOCEAN_TOKEN": "prod-token",
        "PULUMI_ACCESS_TOKEN": "pul-prod",
        "HOME": "/root",
    }
    assert test == {
        "DIGITALOCEAN_TOKEN": "test-token",
        "PULUMI_ACCESS_TOKEN": "pul-test",
        "HOME": "/root",
    }


def test_test_stacks_never_need_prod_secrets() -> None:
    assert stack_credentials.config_secrets("test", {}) == {}


@pytest.mark.parametrize(
    "ref",
    [
        {"CI_COMMIT_REF_PROTECTED": "false"},
        {"CI_COMMIT_BRANCH": "develop", "CI_COMMIT_REF_NAME": "develop"},
        {"CI_COMMIT_BRANCH": "feature/x", "CI_COMMIT_REF_PROTECTED": "false"},
        {"CI_COMMIT_BRANCH": "", "CI_COMMIT_REF_NAME": "production", "CI_COMMIT_TAG": "production"},
    ],
)
@pytest.mark.parametrize("command", ["preview", "up"])
def test_a_prod_job_on_any_other_ref_is_refused(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str], command: str, ref: dict
) -> None:
    job = {**PRODUCTION_JOB, **ref, **PROD_CREDENTIALS, **SPACES_KEY}
    assert run_wrapper(command, "--stack", "prod", **job) == 3
    assert fake_pulumi.calls() == []
    assert "prod is deployed only from the protected branch 'production'" in capsys.readouterr().err


def test_a_prod_job_on_the_protected_production_branch_runs(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    job = {**PRODUCTION_JOB, **PROD_CREDENTIALS, **SPACES_KEY}
    assert run_wrapper("preview", "--stack", "prod", **job) == 0
