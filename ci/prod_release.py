"""Release to prod as one unit: `python -m ci.prod_release [--smoke-wait SECONDS]`.

deploy_prod runs this. It deploys the commit with `pulumi up` (compose up and the readiness
gate are part of the update, infra/deploy.py), smoke-tests the result, and when either
fails, runs `pulumi up` again with the image tag that ran before. Going back through Pulumi
(not only over SSH) is what keeps everything telling the truth afterwards:

- Pulumi's state holds the previous tag again, so retrying the failed job is a real change
  that redeploys, not a no-op against a state that already says "new tag";
- the host runs the previous tag (infra/remote/deploy.sh with that tag, then the gate);
- the job fails, so GitLab keeps the previous deployment as the environment's last
  successful one and shows the failed one beside it (gitlab-org/gitlab#505770; a job's
  deployment counts as the environment's current one only when it succeeded:
  gitlab-org/gitlab-foss merge request 21307, Ci::Build#deployment_status).

Deploy, smoke test and rollback are one job because GitLab's `resource_group` locks single
jobs (https://docs.gitlab.com/ci/resource_groups/): with separate jobs another pipeline's
deploy could run between this deploy and its smoke test, which would then roll that one back.

The previous tag is the stack's `imageTag` output, read with `pulumi stack output --json`.
Exit: 0 deployed and smoke-tested; 1 anything else, with the cause and where prod is now.
"""

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci import pulumi_cli
from infra import stack_name

IMAGE_TAG_OUTPUT = "imageTag"


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


def _up(environ: Mapping[str, str], tag: str | None, dotenv: Path, step: str) -> bool:
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
        )
    except subprocess.CalledProcessError:
        return False
    return True


def _deploy_url(dotenv: Path) -> str:
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line)
    return values["DEPLOY_URL"]


def release(environ: Mapping[str, str], dotenv: Path, smoke_wait: float) -> int:
    previous = deployed_tag(environ)
    new = pulumi_cli.image_tag(None, environ)
    print(f"prod_release: deploying {new} (prod runs {previous or 'nothing yet'})", flush=True)
    if not _up(environ, None, dotenv, "release"):
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
    print(f"prod_release: rolling prod back to {previous} with pulumi up", flush=True)
    if not _up(environ, previous, dotenv, "rollback"):
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
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        return release(environ, args.dotenv, args.smoke_wait)
    except pulumi_cli.RefusedError as error:
        print(f"prod_release: refused: {error}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as error:
        failed = " ".join(error.cmd)
        print(f"prod_release: {failed} exited with {error.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
