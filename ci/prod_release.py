"""Release to prod as one unit: `python -m ci.prod_release [--smoke-wait SECONDS]`.

deploy_prod runs this. It deploys the commit with `pulumi up` (compose up and the readiness
gate are part of the update, infra/deploy.py), smoke-tests the result, and when either
fails, runs `pulumi up` of the release that ran before: that release's commit (its program,
stack file and bundle, ci.release_checkout) with its image tag. Going back through Pulumi
(not only over SSH) is what keeps everything telling the truth afterwards:

- Pulumi's state holds the previous tag again, so retrying the failed job is a real change
  that redeploys, not a no-op against a state that already says "new tag";
- the host runs the previous tag (infra/remote/deploy.sh with that tag, then the gate);
- the job fails, so GitLab keeps the previous deployment as the environment's last
  successful one and shows the failed one beside it (gitlab-org/gitlab#505770; a job's
  deployment counts as the environment's current one only when it succeeded: gitlab-org/
  gitlab app/models/concerns/ci/deployable.rb, #deployment_status: a failed job's
  deployment is :failed).

Deploy, smoke test and rollback are one job because GitLab's `resource_group` locks single
jobs (https://docs.gitlab.com/ci/resource_groups/): with separate jobs another pipeline's
deploy could run between this deploy and its smoke test, which would then roll that one back.

A release that failed before it changed anything (the stack locked, a policy violated,
the config or the program wrong) is not rolled back: prod still runs the previous release,
untouched, and the job says so. Whether the update changed prod is read from Pulumi's
engine events (ci.update_outcome), not guessed from its exit status.

The previous tag is the stack's `imageTag` output, read with `pulumi stack output --json`.
Exit: 0 deployed and smoke-tested; 1 anything else, with the cause and where prod is now.
"""

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci import pulumi_cli, release_checkout, update_outcome
from infra import stack_name

IMAGE_TAG_OUTPUT = "imageTag"
RELEASE_EVENTS = Path("release-events.jsonl")


def smoke_test(url: str, wait: float) -> int:
    """ci.smoke's exit status against the deployed URL."""
    command = [sys.executable, "-m", "ci.smoke", url, "--wait", str(wait)]
    return subprocess.run(command, check=False).returncode


def deployed_tag(environ: Mapping[str, str]) -> str | None:
    """The image tag prod runs now, or None before the first deploy (no stack outputs)."""
    env = pulumi_cli.pulumi_environment(environ)
    if stack_name.PROD_STACK not in pulumi_cli.existing_stacks(env):
        return None
    tag = pulumi_cli.stack_outputs(stack_name.PROD_STACK, env).get(IMAGE_TAG_OUTPUT)
    return tag if isinstance(tag, str) and tag else None


def _up(
    environ: Mapping[str, str],
    tag: str | None,
    dotenv: Path,
    step: str,
    event_log: Path | None = None,
) -> bool:
    """One `pulumi up`; each step gets its own deploy id, so the rollback re-runs compose up
    and the gate even when the failed update left the previous tag in the state."""
    deploy_id = f"{environ.get('CI_JOB_ID', 'local')}-{step}"
    try:
        pulumi_cli.run(
            "up",
            stack_name.PROD_STACK,
            environ,
            explicit_tag=tag,
            dotenv=dotenv,
            deploy_id=deploy_id,
            event_log=event_log,
        )
    except subprocess.CalledProcessError:
        return False
    return True


def _rollback(environ: Mapping[str, str], previous: str, dotenv: Path) -> bool:
    """`pulumi up` of the previous release as a whole: its commit's program, stack file and
    bundle with its images (ci.release_checkout), or, when that commit cannot be checked
    out, this commit's program with the previous images, saying so."""
    try:
        directory = release_checkout.checkout(previous)
    except release_checkout.CheckoutError as error:
        print(
            f"prod_release: cannot check out release {previous} ({error}); rolling back with "
            f"this commit's program and {previous}'s images",
            file=sys.stderr,
            flush=True,
        )
        return _up(environ, previous, dotenv, "rollback")
    print(
        f"prod_release: rolling prod back to release {previous} as a whole: its program, "
        f"stack file and bundle ({directory})",
        flush=True,
    )
    env = release_checkout.environment(directory, environ)
    absolute_dotenv = dotenv.resolve()
    with contextlib.chdir(directory):
        return _up(env, previous, absolute_dotenv, "rollback")


def _untouched(new: str, previous: str | None) -> int:
    print(
        f"prod_release: RELEASE {new} FAILED before it changed anything: the stack is locked "
        "(a killed job: run recover_prod), a policy was violated, or the config or the "
        "program is wrong; the output above names which. Prod is untouched and still runs "
        f"{previous or 'what it ran before'}: nothing to roll back.",
        file=sys.stderr,
    )
    return 1


def _deploy_url(dotenv: Path) -> str:
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line)
    return values["DEPLOY_URL"]


def release(
    environ: Mapping[str, str], dotenv: Path, smoke_wait: float, image_tag: str | None = None
) -> int:
    """`image_tag` defaults to the commit SHA; deploy_prod passes the tested one."""
    previous = deployed_tag(environ)
    new = pulumi_cli.image_tag(image_tag, environ)
    print(f"prod_release: deploying {new} (prod runs {previous or 'nothing yet'})", flush=True)
    RELEASE_EVENTS.unlink(missing_ok=True)
    if not _up(environ, new, dotenv, "release", RELEASE_EVENTS):
        changes = update_outcome.changes_in(RELEASE_EVENTS)
        if not changes:
            return _untouched(new, previous)
        print(f"prod_release: the failed update had begun: {', '.join(changes)}", file=sys.stderr)
        cause = "pulumi up failed: compose up or the readiness gate did not pass"
    elif smoke_test(_deploy_url(dotenv), smoke_wait) != 0:
        cause = "the smoke test failed"
    else:
        print(f"prod_release: prod runs {new}, smoke test passed")
        return 0
    print(f"prod_release: RELEASE {new} FAILED: {cause}", file=sys.stderr, flush=True)
    if previous is None or previous == new:
        print("prod_release: no previous release to return to", file=sys.stderr)
        return 1
    if not _rollback(environ, previous, dotenv):
        print(
            f"prod_release: ROLLBACK to {previous} FAILED as well: prod may be down. "
            "Look at the host; `python -m ci.rollback --host IP` swaps the tags over SSH",
            file=sys.stderr,
        )
        return 1
    print(
        f"prod_release: prod runs {previous} again (state, host and environment); "
        f"{new} was not released because {cause}",
        file=sys.stderr,
    )
    return 1


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ci.prod_release", description=__doc__)
    parser.add_argument("--dotenv", type=Path, default=Path("deploy.env"))
    parser.add_argument("--smoke-wait", type=float, default=180.0)
    parser.add_argument("--image-tag", help="image tag to release (default: $CI_COMMIT_SHA)")
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        return release(environ, args.dotenv, args.smoke_wait, args.image_tag)
    except pulumi_cli.RefusedError as error:
        print(f"prod_release: refused: {error}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as error:
        failed = " ".join(error.cmd)
        print(f"prod_release: {failed} exited with {error.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
