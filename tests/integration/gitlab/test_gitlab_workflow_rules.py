"""Which pipelines GitLab creates at all: `workflow:rules` evaluated by gitlab-ci-local's
rule evaluator (the one it uses for job rules), over every kind of pipeline this project
sees. The variables per pipeline are the ones GitLab predefines for it
(https://docs.gitlab.com/ci/variables/predefined_variables/): CI_COMMIT_BRANCH only in
branch pipelines, CI_OPEN_MERGE_REQUESTS only in a branch pipeline whose branch is the
source of an open merge request, CI_MERGE_REQUEST_IID only in merge request pipelines."""

from collections.abc import Callable

import pytest
import yaml

from tests.integration.gitlab.conftest import PIPELINE, evaluate_rules

OPEN_MR = {"CI_OPEN_MERGE_REQUESTS": "acme/canny-platform!7"}


def push(branch: str, **extra: str) -> dict[str, str]:
    return {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": branch,
        "CI_COMMIT_REF_NAME": branch,
        **extra,
    }


MERGE_REQUEST_EVENT = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_COMMIT_REF_NAME": "feature/login",
    "CI_MERGE_REQUEST_IID": "7",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/login",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop",
}
RELEASE_MERGE_REQUEST_EVENT = MERGE_REQUEST_EVENT | {
    "CI_COMMIT_REF_NAME": "develop",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "develop",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "production",
}

# pipeline -> (its predefined variables, whether GitLab must create it)
PIPELINES = {
    "push to develop": (push("develop"), True),
    "push to develop with a develop -> production merge request open": (
        push("develop", **OPEN_MR),
        True,
    ),
    "push to production": (push("production"), True),
    "push to production with a merge request open": (push("production", **OPEN_MR), True),
    "push to a feature branch": (push("feature/login"), True),
    "push to a feature branch with a merge request open": (
        push("feature/login", **OPEN_MR),
        False,
    ),
    "merge request event": (MERGE_REQUEST_EVENT, True),
    "merge request event develop -> production": (RELEASE_MERGE_REQUEST_EVENT, True),
    "schedule": (
        {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "develop"},
        True,
    ),
    "tag": (
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.0.0", "CI_COMMIT_REF_NAME": "v1.0.0"},
        True,
    ),
    "run pipeline from the web UI": (
        {"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "feature/login"},
        True,
    ),
    "run pipeline from the web UI with a merge request open": (
        {"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "feature/login", **OPEN_MR},
        True,
    ),
}


def decide(rules: list[dict], node: str, gitlab_ci_local: str) -> dict[str, str]:
    pipelines = {name: variables for name, (variables, _) in PIPELINES.items()}
    return evaluate_rules(node, gitlab_ci_local, rules, pipelines)


def workflow_rules(text: str) -> list[dict]:
    return yaml.safe_load(text)["workflow"]["rules"]


@pytest.fixture
def evaluate(require_tool: Callable[[str], str]) -> Callable[[list[dict]], dict[str, str]]:
    node = require_tool("node")
    gitlab_ci_local = require_tool("gitlab-ci-local")
    return lambda rules: decide(rules, node, gitlab_ci_local)


def test_workflow_rules_create_exactly_the_expected_pipelines(
    evaluate: Callable[[list[dict]], dict[str, str]],
) -> None:
    decided = evaluate(workflow_rules(PIPELINE.read_text()))
    created = {name: when != "never" for name, when in decided.items()}
    expected = {name: wanted for name, (_, wanted) in PIPELINES.items()}
    wrong = {name: created[name] for name in expected if created[name] != expected[name]}
    assert wrong == {}, f"created (True) or dropped (False) against expectation: {wrong}"


def test_the_evaluator_sees_the_first_matching_rule(
    evaluate: Callable[[list[dict]], dict[str, str]],
) -> None:
    """The table is only worth something if the evaluator can drop a pipeline: the plain
    "prefer merge request pipelines" rules of GitLab's docs drop develop's push pipeline
    while a release merge request is open, which is the bug these rules avoid."""
    docs_rules = [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
        {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
        {"if": "$CI_COMMIT_BRANCH"},
    ]
    decided = evaluate(docs_rules)
    assert decided["push to develop with a develop -> production merge request open"] == "never"
    assert decided["push to develop"] != "never"
