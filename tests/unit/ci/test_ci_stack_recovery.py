"""ci.stack_recovery with the stand-in pulumi: what it runs to unlock a stack, in which order."""

import pytest

from ci import stack_recovery
from tests.unit.ci.conftest import (
    LAST_UPDATE,
    PROD_CREDENTIALS,
    STACK_LS,
    FakePulumi,
    job_environ,
    on_stack,
)

REFRESH = ["refresh", "--skip-preview", "--yes", "--clear-pending-creates", "--color", "never"]


def recover(*argv: str, **variables: str) -> int:
    return stack_recovery.main(list(argv), job_environ(**variables))


def test_a_locked_stack_is_cancelled_then_refreshed_without_its_pending_creates(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks([{"name": "acme/canny/prod"}])
    assert recover("--stack", "prod", **PROD_CREDENTIALS) == 0
    assert fake_pulumi.calls() == [
        STACK_LS,
        ["stack", "select", "--stack", "prod"],
        ["cancel", "--yes", "--stack", "prod"],
        on_stack(REFRESH, "prod"),
        [*LAST_UPDATE, "prod"],
    ]
    out = capsys.readouterr().out
    assert "1/2" in out and "2/2" in out and "prod is unlocked" in out, out


def test_a_review_stack_is_named_by_its_branch_and_reads_the_shared_test_config(
    fake_pulumi: FakePulumi,
) -> None:
    fake_pulumi.set_stacks([{"name": "test-feature-x"}])
    assert recover("--branch", "feature/x") == 0
    refresh = fake_pulumi.calls()[-2]
    assert refresh == on_stack(REFRESH, "test-feature-x"), refresh


def test_a_missing_stack_is_refused_and_nothing_is_cancelled(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert recover("--stack", "test") == 3
    assert "nothing to recover" in capsys.readouterr().err
    assert fake_pulumi.calls() == [STACK_LS, ["whoami", "--json"]]


def test_a_failed_cancel_stops_before_the_refresh_and_says_the_stack_may_be_locked(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pulumi.set_stacks([{"name": "test"}])
    fake_pulumi.fail_on("cancel")
    assert recover("--stack", "test") == 1
    assert "may still be locked" in capsys.readouterr().err
    assert [call[0] for call in fake_pulumi.calls()] == ["stack", "stack", "cancel"]


def test_an_unknown_stack_name_is_refused(fake_pulumi: FakePulumi) -> None:
    assert recover("--stack", "staging") == 3
    assert fake_pulumi.calls() == []


def test_prod_is_recovered_only_from_the_protected_production_branch(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    job = {"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "develop", "CI_COMMIT_REF_PROTECTED": "true"}
    assert recover("--stack", "prod", **job, **PROD_CREDENTIALS) == 3
    assert fake_pulumi.calls() == []
    assert "only from the protected branch 'production'" in capsys.readouterr().err
