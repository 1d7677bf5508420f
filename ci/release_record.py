"""Which release prod last ran successfully, and the record of a rollback: GitLab's
deployments of the `production` environment.

The stack's `imageTag` output cannot say which release was last good: a failed update (and
a failed rollback after it) can leave it naming the failed tag. GitLab's record can:
deploy_prod's deployment succeeds only when the job does, i.e. after the update's readiness
gate and the smoke test passed (a failed job's deployment is `failed`: gitlab-org/gitlab
app/models/concerns/ci/deployable.rb), and a rollback that brought a release back is
recorded here as a successful deployment of that release's commit. So the last good release
is the newest successful deployment:
`GET /projects/:id/deployments?environment=production&status=success&order_by=finished_at&sort=desc`
(https://docs.gitlab.com/api/deployments/#list-project-deployments; `finished_at` ordering
with `status=success` as the page describes), and a rollback is recorded with
`POST /projects/:id/deployments` with that release's `sha`, `ref`, `tag: false` and
`status: success` (https://docs.gitlab.com/api/deployments/#create-a-deployment), after
which GitLab's environment page shows prod running it.

Which endpoints the job token reaches has changed from release to release (older
https://docs.gitlab.com/ci/jobs/ci_job_token/ lists no deployments endpoint; later ones
follow the job token's permissions: gitlab-org/gitlab#414549, merge request 163211,
https://docs.gitlab.com/ci/jobs/fine_grained_permissions/), and it acts as whoever played
the job. So this uses CANNY_DEPLOYMENTS_TOKEN instead: a project access token with `api`
scope and at least the Developer role (creating a deployment; a Maintainer when
`production` is a protected environment that only maintainers may deploy to), masked and
protected (docs/gitlab.md).
"""

from collections.abc import Mapping

import requests

DEPLOYMENTS_API_VARIABLE = "CANNY_DEPLOYMENTS_TOKEN"
ENVIRONMENT = "production"
RELEASE_BRANCH = "production"


class RecordError(Exception):
    """GitLab's deployment record could not be read or written; the message says why."""


def available(environ: Mapping[str, str]) -> bool:
    needed = (DEPLOYMENTS_API_VARIABLE, "CI_API_V4_URL", "CI_PROJECT_ID")
    return all(environ.get(name) for name in needed)


def _request(
    environ: Mapping[str, str], method: str, timeout: float, **kwargs: object
) -> requests.Response:
    url = f"{environ['CI_API_V4_URL'].rstrip('/')}/projects/{environ['CI_PROJECT_ID']}/deployments"
    headers = {"PRIVATE-TOKEN": environ[DEPLOYMENTS_API_VARIABLE]}
    try:
        response = requests.request(method, url, headers=headers, timeout=timeout, **kwargs)
        response.raise_for_status()
    except requests.RequestException as error:
        # The exception's text holds the URL and status only; the token is in a header.
        raise RecordError(f"{method} deployments: {error}") from error
    return response


def last_good_commit(environ: Mapping[str, str], timeout: float = 30.0) -> str | None:
    """The commit of prod's newest successful deployment, or None before the first one."""
    params = {
        "environment": ENVIRONMENT,
        "status": "success",
        "order_by": "finished_at",
        "sort": "desc",
        "per_page": "1",
    }
    deployments = _request(environ, "GET", timeout, params=params).json()
    if not deployments:
        return None
    sha = deployments[0].get("sha")
    if not isinstance(sha, str) or not sha:
        raise RecordError(f"the newest successful deployment names no commit: {deployments[0]}")
    return sha


def record_rollback(environ: Mapping[str, str], commit: str, timeout: float = 30.0) -> int:
    """Record that prod runs `commit` again; the new deployment's id."""
    body = {
        "environment": ENVIRONMENT,
        "sha": commit,
        "ref": RELEASE_BRANCH,
        "tag": False,
        "status": "success",
    }
    created = _request(environ, "POST", timeout, json=body).json()
    return int(created["id"])
