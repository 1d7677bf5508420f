"""Put prod's preview on the merge request that released it: `python -m ci.merge_request_note`.

preview_prod runs on the `production` branch after the release merge request was merged,
right before deploy_prod waits for a person. The job log has the diff; this also posts it
as a comment on that merge request, where reviewers and the person about to play
deploy_prod look. The merge request is found from the commit
(`GET /projects/:id/repository/commits/:sha/merge_requests`,
https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit) and the
comment posted with `POST /projects/:id/merge_requests/:iid/notes`
(https://docs.gitlab.com/api/notes/#create-new-merge-request-note). The job token may do
neither (https://docs.gitlab.com/ci/jobs/ci_job_token/), so this needs
CANNY_RELEASE_NOTE_TOKEN: a project access token with `api` scope, masked and protected
(docs/gitlab.md). Without it, or when GitLab fails, the job says so and goes on: the diff
is still in the log, and a missing comment must not block a release.

The comment holds what the log holds: change counts and, per resource, the names of the
properties that change, never their values (ci/preview_diff.py).
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from ci import preview_diff, pulumi_cli

WRITE_API_VARIABLE = "CANNY_RELEASE_NOTE_TOKEN"
RELEASE_BRANCH = "production"


def note_body(preview_json: str, commit: str, pipeline_url: str) -> str:
    lines = pulumi_cli.preview_summary(preview_json) + preview_diff.diff_lines(preview_json)
    listing = "\n".join(lines) or "(no resource changes)"
    return (
        f"**What `deploy_prod` will change in prod** for {commit[:12]} "
        "(property names only; values are in the job's preview artifact):\n\n"
        f"```\n{listing}\n```\n\nRead it, then play `deploy_prod` in {pipeline_url}."
    )


def post(environ: Mapping[str, str], body: str, timeout: float = 30.0) -> list[int]:
    """Comment on each merged merge request into production that holds the commit; the
    merge request iids commented on."""
    api = environ["CI_API_V4_URL"].rstrip("/")
    project = environ["CI_PROJECT_ID"]
    headers = {"PRIVATE-TOKEN": environ[WRITE_API_VARIABLE]}
    found = requests.get(
        f"{api}/projects/{project}/repository/commits/{environ['CI_COMMIT_SHA']}/merge_requests",
        headers=headers,
        timeout=timeout,
    )
    found.raise_for_status()
    iids = [mr["iid"] for mr in found.json() if mr.get("target_branch") == RELEASE_BRANCH]
    for iid in iids:
        response = requests.post(
            f"{api}/projects/{project}/merge_requests/{iid}/notes",
            headers=headers,
            json={"body": body},
            timeout=timeout,
        )
        response.raise_for_status()
    return iids


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.merge_request_note", description=__doc__)
    parser.add_argument("--preview-file", type=Path, default=Path("preview.json"))
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    if not environ.get(WRITE_API_VARIABLE):
        print(f"merge_request_note: no {WRITE_API_VARIABLE}: the diff is in this log only")
        return 0
    body = note_body(
        args.preview_file.read_text(),
        environ.get("CI_COMMIT_SHA", ""),
        environ.get("CI_PIPELINE_URL", "this pipeline"),
    )
    try:
        iids = post(environ, body)
    except (requests.RequestException, KeyError) as error:
        print(f"merge_request_note: WARNING: no comment posted ({error})", file=sys.stderr)
        return 0
    if not iids:
        print(f"merge_request_note: no merge request into {RELEASE_BRANCH} holds this commit")
    for iid in iids:
        print(f"merge_request_note: the diff is on merge request !{iid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
