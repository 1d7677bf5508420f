"""Source branches of the open merge requests, from any project, that the reaper must keep.

A merge request from a fork has a source branch that is not among this project's branches,
so `git ls-remote` alone would call its review stack abandoned. With a read-only API token
(CANNY_REAPER_API_TOKEN: a project access token with `read_api`, docs/gitlab.md) the reaper
lists the open merge requests of this project, forks' included, and keeps the stack of
each source branch: `GET /projects/:id/merge_requests?state=opened`, paged by the
`X-Next-Page` header (https://docs.gitlab.com/api/merge_requests/#list-project-merge-requests,
https://docs.gitlab.com/api/rest/#pagination). The job token cannot list merge requests
(https://docs.gitlab.com/ci/jobs/ci_job_token/ lists the endpoints it reaches), hence the
extra token; without it the reaper says so and relies on branches alone.
"""

from collections.abc import Mapping

import requests

READ_API_VARIABLE = "CANNY_REAPER_API_TOKEN"
PAGE_LIMIT = 50


def source_branches(api_url: str, project_id: str, token: str, timeout: float = 30.0) -> set[str]:
    """Source branch names of every open merge request of the project."""
    branches: set[str] = set()
    page = "1"
    for _ in range(PAGE_LIMIT):
        response = requests.get(
            f"{api_url.rstrip('/')}/projects/{project_id}/merge_requests",
            params={"state": "opened", "per_page": "100", "page": page},
            headers={"PRIVATE-TOKEN": token},
            timeout=timeout,
        )
        response.raise_for_status()
        branches |= {request["source_branch"] for request in response.json()}
        page = response.headers.get("X-Next-Page", "")
        if not page:
            break
    return branches


def open_branches(environ: Mapping[str, str]) -> set[str] | None:
    """The open merge requests' source branches, or None without a token or outside CI."""
    token = environ.get(READ_API_VARIABLE)
    api_url = environ.get("CI_API_V4_URL")
    project_id = environ.get("CI_PROJECT_ID")
    if not (token and api_url and project_id):
        return None
    return source_branches(api_url, project_id, token)
