"""Which jobs .gitlab-ci.yml runs for each kind of pipeline, as gitlab-ci-local sees them.

gitlab-ci-local evaluates job rules in a git checkout: the branch comes from the checkout,
the kind of pipeline from the same predefined variables GitLab sets (CI_PIPELINE_SOURCE,
CI_COMMIT_TAG, CI_MERGE_REQUEST_*; CI_COMMIT_BRANCH is unset in merge request and tag
pipelines). It does not evaluate `workflow:rules`, so the job rules must stand on their own;
which pipelines are created at all is tested with its rule evaluator in
test_gitlab_workflow_rules.py.
"""

import csv
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.gitlab.conftest import (
    PIPELINE,
    check_pipeline_schema,
    run_gitlab_ci_local,
)

MANUAL = "manual"
AUTO = "on_success"


@dataclass(frozen=True)
class Pipeline:
    branch: str
    variables: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    tag: str | None = None


MERGE_REQUEST = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_IID": "7",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/login",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop",
}
RELEASE_REQUEST = MERGE_REQUEST | {
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "develop",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "production",
}
FORK_REQUEST = MERGE_REQUEST | {
    "CI_PROJECT_ID": "1001",
    "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "2002",
    "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH": "someone/canny-platform",
}
SAME_PROJECT = {"CI_PROJECT_ID": "1001", "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "1001"}
BUILD = [("check", AUTO, False), ("build_backend", AUTO, False), ("build_gateway", AUTO, False)]
# The review's smoke test runs inside `review`: a verify job needing a manual job that may
# fail would run after a failed deploy.
REVIEW = [("review", MANUAL, True), ("stop_review", MANUAL, True), ("recover_review", MANUAL, True)]

SCENARIOS = {
    "push to a feature branch": (Pipeline("feature/login"), [*BUILD, *REVIEW]),
    "merge request": (
        Pipeline("feature/login", MERGE_REQUEST | SAME_PROJECT, unset=("CI_COMMIT_BRANCH",)),
        [*BUILD, ("preview_test", AUTO, False), *REVIEW],
    ),
    "merge request from a fork": (
        Pipeline("feature/login", FORK_REQUEST, unset=("CI_COMMIT_BRANCH",)),
        [("check", AUTO, False), ("fork_notice", AUTO, False)],
    ),
    "merge request develop into production": (
        Pipeline("develop", RELEASE_REQUEST, unset=("CI_COMMIT_BRANCH",)),
        [*BUILD, ("preview_test", AUTO, False)],
    ),
    "push to develop": (
        Pipeline("develop"),
        [
            *BUILD,
            ("deploy_test", AUTO, False),
            ("stop_test", MANUAL, True),
            ("recover_test", MANUAL, True),
            ("verify_test", AUTO, False),
            ("promote_tested", AUTO, False),
        ],
    ),
    # Nothing is built: production deploys develop's images. deploy_prod waits for a
    # person (manual, not allowed to fail: the pipeline blocks until it is played).
    # GitLab marks a protected branch's jobs with CI_COMMIT_REF_PROTECTED "true"; prod's jobs
    # require it (an unprotected `production` gets none: test_gitlab_prod_credentials.py).
    "push to production": (
        Pipeline("production", {"CI_COMMIT_REF_PROTECTED": "true"}),
        [
            ("check", AUTO, False),
            ("release_images", AUTO, False),
            ("preview_prod", AUTO, False),
            ("deploy_prod", MANUAL, False),
            ("recover_prod", MANUAL, True),
        ],
    ),
    "schedule on develop": (
        Pipeline("develop", {"CI_PIPELINE_SOURCE": "schedule"}),
        [("reap", AUTO, False), ("reap_stacks", AUTO, False)],
    ),
    "schedule on production": (
        Pipeline("production", {"CI_PIPELINE_SOURCE": "schedule"}),
        [("reap", AUTO, False), ("reap_stacks", AUTO, False)],
    ),
    "tag": (
        Pipeline(
            "develop",
            {"CI_COMMIT_TAG": "v1.0.0", "CI_COMMIT_REF_NAME": "v1.0.0"},
            unset=("CI_COMMIT_BRANCH",),
            tag="v1.0.0",
        ),
        [("check", AUTO, False)],
    ),
}


def gitlab_ci_local(
    gcl: str, repo: Path, pipeline: Pipeline, *mode: str
) -> subprocess.CompletedProcess:
    args = [*mode]
    for name, value in pipeline.variables.items():
        args += ["--variable", f"{name}={value}"]
    for name in pipeline.unset:
        args += ["--unset-variable", name]
    if pipeline.variables:
        args += ["--ignore-predefined-vars", ",".join(pipeline.variables)]
    return run_gitlab_ci_local(gcl, repo, *args)


@pytest.mark.parametrize(("pipeline", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_job_set(
    pipeline: Pipeline,
    expected: list[tuple[str, str, bool]],
    checkout: Callable[[str, str | None], Path],
    require_tool: Callable[[str], str],
) -> None:
    repo = checkout(pipeline.branch, pipeline.tag)
    result = gitlab_ci_local(require_tool("gitlab-ci-local"), repo, pipeline, "--list-csv")
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout[result.stdout.index("name;description;") :]
    rows = list(csv.DictReader(table.splitlines(), delimiter=";"))
    jobs = [(row["name"], row["when"], row["allowFailure"] == "true") for row in rows]
    assert jobs == expected, f"gitlab-ci-local listed:\n{table}"
    # gitlab-ci-local's own --validate-dependency-chain rejects any `needs` on a manual job,
    # which review and deploy_prod have on purpose; this is the same check without
    # that limit: every job a listed job needs is in the pipeline too.
    listed = {row["name"] for row in rows}
    for row in rows:
        needs = {name for name in row["needs"].strip("[]").split(",") if name}
        assert needs <= listed, f"{row['name']} needs {sorted(needs - listed)}, not in the pipeline"


def test_pipeline_matches_gitlab_schema(require_tool: Callable[[str], str]) -> None:
    result = check_pipeline_schema(require_tool("check-jsonschema"), PIPELINE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_job(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    broken = tmp_path / ".gitlab-ci.yml"
    pipeline = PIPELINE.read_text()
    broken.write_text(pipeline.replace("&environment_life 1 day", "&environment_life [1]"))
    result = check_pipeline_schema(require_tool("check-jsonschema"), broken)
    assert result.returncode == 1, "the schema check passed a file with a wrong type"
