"""No job on a ref other than the protected `production` branch can reach a prod credential,
read from .gitlab-ci.yml as GitLab evaluates it: the jobs as GitLab merges them
(`gitlab-ci-local --preview`), each job's `rules` decided by gitlab-ci-local's own rule
evaluator for every kind of pipeline, and GitLab's variable visibility applied to the CI/CD
variables ci/stack_credentials.py reads.

GitLab's visibility, as modelled here:
- a Protected variable reaches only jobs on a protected branch or tag, which GitLab marks
  with CI_COMMIT_REF_PROTECTED "true" (https://docs.gitlab.com/ci/variables/#protect-a-cicd-variable,
  https://docs.gitlab.com/ci/variables/predefined_variables/);
- a variable with an environment scope reaches only jobs whose `environment:` name matches
  it, `*` being a wildcard (https://docs.gitlab.com/ci/environments/#limit-the-environment-scope-of-a-cicd-variable);
- an ID token exists only in a job that declares it in `id_tokens`
  (https://docs.gitlab.com/ci/secrets/id_token_authentication/).
"""

import fnmatch
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ci import stack_credentials
from tests.integration.gitlab.conftest import (
    PIPELINE,
    evaluate_cases,
    evaluate_rules,
    jobs,
    run_gitlab_ci_local,
)

PROD_SCOPE = "production"
TEST_SCOPES = ("test", "review/*")
REF_SLUG = "feature-login"


def push(branch: str, protected: bool) -> dict[str, str]:
    return {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": branch,
        "CI_COMMIT_REF_NAME": branch,
        "CI_COMMIT_REF_SLUG": branch.replace("/", "-"),
        "CI_COMMIT_REF_PROTECTED": str(protected).lower(),
    }


def merge_request(source: str, target: str) -> dict[str, str]:
    """Merge request pipelines run on refs/merge-requests/<iid>/head, never protected."""
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_REF_NAME": source,
        "CI_COMMIT_REF_SLUG": source.replace("/", "-"),
        "CI_COMMIT_REF_PROTECTED": "false",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": source,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": target,
    }


PRODUCTION = "push to production"
PIPELINES = {
    PRODUCTION: push("production", protected=True),
    # develop is protected too: on GitLab Free protected variables reach it.
    "push to develop": push("develop", protected=True),
    "push to a feature branch": push("feature/login", protected=False),
    "merge request feature -> develop": merge_request("feature/login", "develop"),
    "merge request develop -> production": merge_request("develop", "production"),
    "schedule on develop": {**push("develop", protected=True), "CI_PIPELINE_SOURCE": "schedule"},
    "run from the web UI on a feature branch": {
        **push("feature/login", protected=False),
        "CI_PIPELINE_SOURCE": "web",
    },
    # A protected tag, and a tag named like the prod branch (gitlab-org/gitlab-foss#53477).
    "protected tag": {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_TAG": "v1.0.0",
        "CI_COMMIT_REF_NAME": "v1.0.0",
        "CI_COMMIT_REF_PROTECTED": "true",
    },
    "tag named production": {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_TAG": "production",
        "CI_COMMIT_REF_NAME": "production",
        "CI_COMMIT_REF_PROTECTED": "false",
    },
}


def prod_variables() -> set[str]:
    return {credential.variable("prod") for credential in stack_credentials.CREDENTIALS}


def environment_of(job: dict, variables: dict[str, str]) -> str | None:
    environment = job.get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    if not name:
        return None
    return name.replace("$CI_COMMIT_REF_SLUG", variables.get("CI_COMMIT_REF_SLUG", REF_SLUG))


def visible(job: dict, variables: dict[str, str], protected: bool, scope: str) -> bool:
    """Whether GitLab hands a variable (Protected or not, with this scope) to the job."""
    if protected and variables.get("CI_COMMIT_REF_PROTECTED") != "true":
        return False
    environment = environment_of(job, variables)
    return scope == "*" or (environment is not None and fnmatch.fnmatchcase(environment, scope))


def created_jobs(pipeline: dict, node: str, gitlab_ci_local: str) -> dict[str, dict[str, dict]]:
    """pipeline name -> the jobs GitLab creates in it (each job's rules decided for it)."""
    all_jobs = jobs(pipeline)
    cases = {
        f"{job_name}\t{kind}": {
            "rules": job.get("rules") or [{"when": "on_success"}],
            "variables": variables,
        }
        for job_name, job in all_jobs.items()
        for kind, variables in PIPELINES.items()
    }
    created: dict[str, dict[str, dict]] = {name: {} for name in PIPELINES}
    for case, when in evaluate_cases(node, gitlab_ci_local, cases).items():
        job_name, kind = case.split("\t")
        if when != "never":
            created[kind][job_name] = all_jobs[job_name]
    return created


@pytest.fixture
def running_jobs(
    expanded_pipeline: dict, require_tool: Callable[[str], str]
) -> dict[str, dict[str, dict]]:
    return created_jobs(expanded_pipeline, require_tool("node"), require_tool("gitlab-ci-local"))


def reaching_prod(running: dict[str, dict[str, dict]]) -> dict[str, list[str]]:
    """pipeline -> jobs that see a prod credential: a Protected, production-scoped variable,
    a `_PROD` variable named in the job itself, or an ID token it requests."""
    found: dict[str, list[str]] = {}
    for pipeline, created in running.items():
        variables = PIPELINES[pipeline]
        for name, job in created.items():
            reaches = (
                visible(job, variables, protected=True, scope=PROD_SCOPE)
                or any(variable in str(job) for variable in prod_variables())
                or bool(job.get("id_tokens"))
            )
            if reaches:
                found.setdefault(pipeline, []).append(name)
    return found


def test_only_the_protected_production_branch_reaches_prod_credentials(
    running_jobs: dict[str, dict[str, dict]],
) -> None:
    found = reaching_prod(running_jobs)
    elsewhere = {pipeline: names for pipeline, names in found.items() if pipeline != PRODUCTION}
    assert elsewhere == {}, f"jobs that could read a prod credential: {elsewhere}"
    # Not vacuous: prod's own jobs do get them, and only those.
    assert sorted(found[PRODUCTION]) == ["deploy_prod", "preview_prod", "recover_prod"], found


def test_test_stack_jobs_never_see_prod_variables_and_prod_jobs_never_see_test_ones(
    running_jobs: dict[str, dict[str, dict]],
) -> None:
    for pipeline, created in running_jobs.items():
        variables = PIPELINES[pipeline]
        for name, job in created.items():
            sees_test = any(
                visible(job, variables, protected=False, scope=scope) for scope in TEST_SCOPES
            )
            sees_prod = visible(job, variables, protected=True, scope=PROD_SCOPE)
            assert not (sees_test and sees_prod), f"{pipeline}: {name} sees both sides"


def test_prod_jobs_need_the_protected_ref_in_their_rules(
    expanded_pipeline: dict, require_tool: Callable[[str], str]
) -> None:
    """An unprotected branch named `production` (before anyone protects it) creates no prod
    job at all, so nothing relies on the variables' protection alone."""
    node, gitlab_ci_local = require_tool("node"), require_tool("gitlab-ci-local")
    unprotected = {"unprotected production": push("production", protected=False)}
    for name in ("preview_prod", "deploy_prod"):
        rules = jobs(expanded_pipeline)[name]["rules"]
        decided = evaluate_rules(node, gitlab_ci_local, rules, unprotected)
        assert decided == {"unprotected production": "never"}, f"{name}: {decided}"


def test_the_model_sees_the_gitlab_free_hole_it_guards_against() -> None:
    """On GitLab Free, develop is protected, so a job added there that declares
    `environment: production` would read prod's Protected, production-scoped variables:
    only Premium's protected environments (or ESC with an OIDC trust bound to the ref)
    close that (docs/security.md). The model must say so, or the tests above prove little."""
    rogue = {"script": ["env"], "environment": {"name": "production"}}
    assert visible(rogue, PIPELINES["push to develop"], protected=True, scope=PROD_SCOPE)
    assert not visible(
        rogue, PIPELINES["push to a feature branch"], protected=True, scope=PROD_SCOPE
    )


ROGUE_JOBS = """
rogue_reader:
  stage: deploy
  script: [env]
  environment:
    name: production
  rules:
    - if: $CI_COMMIT_BRANCH == "develop"
rogue_token:
  stage: deploy
  script: [env]
  id_tokens:
    STOLEN:
      aud: urn:pulumi:org:acme
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
"""


def test_a_job_reaching_prod_from_another_ref_would_be_caught(
    checkout: Callable[[str, str | None], Path], require_tool: Callable[[str], str]
) -> None:
    """The check above is only worth something if it fails on such a pipeline: a job added
    on develop that declares the production environment, and a merge request job asking
    for an ID token."""
    gitlab_ci_local = require_tool("gitlab-ci-local")
    repo = checkout("feature/login", None)
    (repo / ".gitlab-ci.yml").write_text(PIPELINE.read_text() + ROGUE_JOBS)
    result = run_gitlab_ci_local(gitlab_ci_local, repo, "--preview")
    assert result.returncode == 0, result.stdout + result.stderr
    running = created_jobs(yaml.safe_load(result.stdout), require_tool("node"), gitlab_ci_local)
    found = reaching_prod(running)
    assert found["push to develop"] == ["rogue_reader"], found
    assert found["merge request feature -> develop"] == ["rogue_token"], found
