"""The reaper's child pipeline: one job per doomed review stack, each in that stack's lock.

A job holds one resource group (https://docs.gitlab.com/ci/resource_groups/), so a single
`reap` job destroying many stacks could race a `review` or `stop_review` of one of them.
Instead `reap` only decides, writes this child pipeline, and the `reap_stacks` trigger job
runs it (a dynamic child pipeline: https://docs.gitlab.com/ci/pipelines/downstream_pipelines/
#dynamic-child-pipelines). Each job destroys and removes one stack holding
`review/<slug>`, the resource group its review and stop jobs take: it waits for a deploy
of that stack and no deploy starts during it.

The jobs are made from the `.pulumi` template of .gitlab-ci.yml itself (its image, cache,
timeout and before_script), so they install and run Pulumi exactly as every other Pulumi
job does. A stack whose branch slug was shortened for Pulumi (infra/stack_name.py, over
REVIEW_SLUG_MAX_LENGTH) has no resource group it can be mapped back to; its job runs
without one and says so (a slug of the full length may have been, so it counts too).
"""

from collections.abc import Iterable
from pathlib import Path

import yaml

from infra import stack_name

PIPELINE_FILE = Path(".gitlab-ci.yml")
TEMPLATE = ".pulumi"
TEMPLATE_KEYS = ("image", "cache", "timeout", "before_script", "interruptible")
STAGE = "reap"


def pulumi_template(pipeline_file: Path = PIPELINE_FILE) -> dict[str, object]:
    """The parts of `.pulumi` a child job needs (YAML anchors resolved by the loader)."""
    template = yaml.safe_load(pipeline_file.read_text())[TEMPLATE]
    return {key: template[key] for key in TEMPLATE_KEYS if key in template}


def resource_group(stack: str) -> str | None:
    """`review/<slug>` for `test-<slug>`, or None when the slug may have been shortened."""
    slug = stack_name.bare_name(stack).removeprefix(stack_name.REVIEW_PREFIX)
    if len(slug) >= stack_name.REVIEW_SLUG_MAX_LENGTH:
        return None
    return f"review/{slug}"


def child_pipeline(stacks: Iterable[str], template: dict[str, object]) -> dict[str, object]:
    """The child pipeline as a mapping; a no-op job when there is nothing to reap (GitLab
    refuses a pipeline without jobs)."""
    jobs: dict[str, object] = {}
    for stack in stacks:
        bare = stack_name.bare_name(stack)
        job: dict[str, object] = {**template, "stage": STAGE}
        group = resource_group(bare)
        if group:
            job["resource_group"] = group
        script = [] if group else [f"echo 'stack {bare}: shortened name, no resource group'"]
        job["script"] = [
            *script,
            f".venv/bin/python -m ci.pulumi_cli destroy --stack {bare}",
            f".venv/bin/python -m ci.pulumi_cli stack-rm --stack {bare}",
        ]
        jobs[f"reap {bare}"] = job
    if not jobs:
        jobs["nothing to reap"] = {"stage": STAGE, "script": ["echo 'no review stack to reap'"]}
    return {"stages": [STAGE], **jobs}


def write(stacks: Iterable[str], output: Path, pipeline_file: Path = PIPELINE_FILE) -> None:
    pipeline = child_pipeline(stacks, pulumi_template(pipeline_file))
    output.write_text(yaml.safe_dump(pipeline, sort_keys=False))
