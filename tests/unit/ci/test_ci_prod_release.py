"""ci.prod_release's decisions with the stand-in pulumi (the full release and rollback over
real SSH is in tests/integration/smoke/test_ci_rollback.py)."""

import pytest

from ci import prod_release
from tests.unit.ci.conftest import SPACES_KEY, FakePulumi, job_environ


def release(**variables: str) -> int:
    return prod_release.main(
        ["--smoke-wait", "0"], job_environ(CI_COMMIT_SHA="new-2", **SPACES_KEY, **variables)
    )


def test_a_missing_prod_stack_is_refused_not_created(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert release() == 3
    assert "stack prod does not exist in the backend" in capsys.readouterr().err
    ran = [call[:2] for call in fake_pulumi.calls()]
    assert ["up"] not in [call[:1] for call in ran] and ["stack", "select"] not in ran, ran


def test_release_and_rollback_get_their_own_deploy_ids(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pulumi.set_stacks([{"name": "prod"}])
    fake_pulumi.set_outputs({"url": "http://203.0.113.7", "ip": "203.0.113.7", "imageTag": "old-1"})
    monkeypatch.setattr(prod_release, "smoke_test", lambda url, wait: 1)
    assert release(CI_JOB_ID="900") == 1
    ups = [call for call in fake_pulumi.calls() if call[0] == "up"]
    pins = [[arg for arg in up if arg.startswith("canny:")] for up in ups]
    assert pins == [
        ["canny:imageTag=new-2", "canny:deployId=900-release"],
        ["canny:imageTag=old-1", "canny:deployId=900-rollback"],
    ]


def test_an_update_that_failed_before_any_step_is_not_rolled_back(
    fake_pulumi: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stand-in writes no engine events, as Pulumi when the stack is locked."""
    fake_pulumi.set_stacks([{"name": "prod"}])
    fake_pulumi.set_outputs({"url": "http://203.0.113.7", "ip": "203.0.113.7", "imageTag": "old-1"})
    fake_pulumi.fail_on("up")
    assert release(CI_JOB_ID="901") == 1
    ups = [call for call in fake_pulumi.calls() if call[0] == "up"]
    assert len(ups) == 1, "a rollback would fail on the same lock, or redeploy what runs"
    assert "--event-log" in ups[0]
    err = capsys.readouterr().err
    assert "FAILED before it changed anything" in err and "still runs old-1" in err, err
    assert "may be down" not in err
