"""ci.prod_release's decisions with the stand-in pulumi (the full release and rollback over
real SSH is in tests/integration/smoke/test_ci_rollback.py)."""

import json
from pathlib import Path

import pytest

from ci import prod_release
from tests.unit.ci.conftest import PROD_CREDENTIALS, SPACES_KEY, FakePulumi, job_environ
from tests.unit.ci.gitlab_deployments import GitLabDeployments


def set_pins(fake_pulumi: FakePulumi) -> list[list[str]]:
    """The pins of each update, saved in the stack's config just before it."""
    return [call for call in fake_pulumi.calls() if call[:2] == ["config", "set-all"]]


def release(**variables: str) -> int:
    return prod_release.main(
        ["--smoke-wait", "0"],
        job_environ(CI_COMMIT_SHA="new-2", **PROD_CREDENTIALS, **SPACES_KEY, **variables),
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
    assert [[arg for arg in pin if arg.startswith("canny:")] for pin in set_pins(fake_pulumi)] == [
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


def test_an_update_that_failed_after_a_step_ran_is_rolled_back(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine events of the failed update name the step that changed prod."""
    fake_pulumi.set_stacks([{"name": "prod"}])
    fake_pulumi.set_outputs({"url": "http://203.0.113.7", "ip": "203.0.113.7", "imageTag": "old-1"})
    urn = "urn:pulumi:prod::canny::command:remote:Command::deploy"
    planned = {"metadata": {"op": "replace", "urn": urn}, "planning": True}
    fake_pulumi.set_events(
        [{"resourcePreEvent": planned}, {"resourcePreEvent": planned | {"planning": False}}]
    )
    fake_pulumi.fail_on("up")
    rolled_back: list[str] = []
    monkeypatch.setattr(
        prod_release,
        "_rollback",
        lambda environ, previous, dotenv: rolled_back.append(previous) is None,
    )
    assert release(CI_JOB_ID="906") == 1
    assert rolled_back == ["old-1"]
    assert f"the failed update had begun: replace {urn}" in capsys.readouterr().err


GOOD = "1111111111111111111111111111111111111111"
FAILED = "2222222222222222222222222222222222222222"
GOOD_DIGESTS = {"backend": "sha256:" + "1" * 64, "gateway": "sha256:" + "2" * 64}
NEW_DIGESTS = {"backend": "sha256:" + "3" * 64, "gateway": "sha256:" + "4" * 64}


def deployment(sha: str, status: str) -> dict:
    return {"environment": "production", "sha": sha, "ref": "production", "status": status}


def pins(fake_pulumi: FakePulumi) -> list[list[str]]:
    return [
        sorted(arg for arg in pin if arg.startswith("canny:") and "deployId" not in arg)
        for pin in set_pins(fake_pulumi)
    ]


def digest_pins(tag: str, digests: dict[str, str]) -> list[str]:
    return sorted(
        [
            f"canny:imageTag={tag}",
            f"canny:backendDigest={digests['backend']}",
            f"canny:gatewayDigest={digests['gateway']}",
        ]
    )


@pytest.fixture
def failed_release_prod(fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    """Prod after a double failure: the stack's imageTag output names the failed release;
    every smoke test of the new release fails; the registry knows the good one's digests."""
    fake_pulumi.set_stacks([{"name": "prod"}])
    fake_pulumi.set_outputs(
        {"url": "http://203.0.113.7", "ip": "203.0.113.7", "imageTag": f"tested-{FAILED}"}
    )
    monkeypatch.setattr(prod_release, "smoke_test", lambda url, wait: 1)
    looked_up: dict[str, dict[str, str]] = {f"tested-{GOOD}": GOOD_DIGESTS}
    monkeypatch.setattr(prod_release, "tested_digests", lambda environ, tag: looked_up[tag])
    return fake_pulumi


def release_with_record(gitlab: GitLabDeployments, tmp_path: Path, **variables: str) -> int:
    record = tmp_path / "release-images.json"
    images = {f"registry.example.com/acme/canny/{name}": d for name, d in NEW_DIGESTS.items()}
    record.write_text(json.dumps({"commit": "new-2", "images": images}))
    environ = job_environ(
        CI_COMMIT_SHA="new-2", **PROD_CREDENTIALS, **SPACES_KEY, **(gitlab.environ() | variables)
    )
    return prod_release.main(
        ["--smoke-wait", "0", "--image-tag", "tested-new-2", "--image-digests", str(record)],
        environ,
    )


def test_after_a_double_failure_prod_goes_back_to_the_last_good_release(
    failed_release_prod: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack's imageTag output names the release whose rollback failed; GitLab's last
    successful deployment is the one that passed its gate and smoke test."""
    history = [deployment(GOOD, "success"), deployment(FAILED, "failed")]
    with GitLabDeployments(history) as gitlab:
        assert release_with_record(gitlab, tmp_path, CI_JOB_ID="902") == 1
    assert pins(failed_release_prod) == [
        digest_pins("tested-new-2", NEW_DIGESTS),
        digest_pins(f"tested-{GOOD}", GOOD_DIGESTS),
    ], "the release runs its tested digests, the rollback the last good release's"
    assert gitlab.created() == [
        {
            "environment": "production",
            "sha": GOOD,
            "ref": "production",
            "tag": False,
            "status": "success",
        }
    ], "the rollback is recorded as a successful deployment of the release it brought back"
    assert f"prod runs tested-{GOOD} again" in capsys.readouterr().err


def test_a_failed_rollback_records_nothing_so_the_last_good_release_stays(
    failed_release_prod: FakePulumi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollback = prod_release._rollback
    monkeypatch.setattr(prod_release, "_rollback", lambda environ, previous, dotenv: False)
    history = [deployment(GOOD, "success")]
    with GitLabDeployments(history) as gitlab:
        assert release_with_record(gitlab, tmp_path, CI_JOB_ID="903") == 1
        assert gitlab.created() == []
        # The next release after the double failure: still back to GOOD, not the output.
        monkeypatch.setattr(prod_release, "_rollback", rollback)
        assert release_with_record(gitlab, tmp_path, CI_JOB_ID="904") == 1
    assert pins(failed_release_prod)[-1] == digest_pins(f"tested-{GOOD}", GOOD_DIGESTS)


def test_an_unreadable_record_deploys_nothing(
    failed_release_prod: FakePulumi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with GitLabDeployments([]) as gitlab:
        assert release_with_record(gitlab, tmp_path, CANNY_DEPLOYMENTS_TOKEN="wrong") == 1
    assert pins(failed_release_prod) == [], "without the last good release, no release"
    assert "cannot read the last good release from GitLab" in capsys.readouterr().err


def test_a_release_from_before_digest_pinning_is_rolled_back_by_tag(tmp_path: Path) -> None:
    """Its program refuses the unknown canny:backendDigest (infra/config.py)."""
    assert not prod_release._knows_digests(tmp_path)
    assert prod_release._knows_digests(Path(__file__).resolve().parents[3])


def test_no_rollback_by_tag_over_the_failed_release_s_pins(
    failed_release_prod: FakePulumi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The previous release cannot be checked out (its commit is not in this clone) and its
    digests cannot be found: a rollback with this stack file would keep the failed
    release's digests, which `pulumi up --config` saved in it."""
    monkeypatch.setattr(prod_release, "tested_digests", lambda environ, tag: {})
    (tmp_path / "Pulumi.prod.yaml").write_text(
        f"config:\n  canny:backendDigest: {NEW_DIGESTS['backend']}\n"
    )
    with GitLabDeployments([deployment(GOOD, "success")]) as gitlab:
        assert release_with_record(gitlab, tmp_path, CI_JOB_ID="905") == 1
        assert gitlab.created() == []
    assert len(pins(failed_release_prod)) == 1, "only the release ran"
    assert "digests are unknown" in capsys.readouterr().err
