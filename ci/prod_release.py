"""Release to prod as one unit: `python -m ci.prod_release [--smoke-wait SECONDS]`.

deploy_prod runs this. It deploys the commit with `pulumi up` (compose up and the readiness
gate are part of the update, infra/deploy.py), smoke-tests the result, and when either
fails, runs `pulumi up` of the last good release: that release's commit (its program,
stack file and bundle, ci.release_checkout) with its images, pinned by digest. Going back
through Pulumi
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

Every release runs its images by digest (`--image-digests release-images.json`,
ci.image_digests), the ones develop tested; a rollback pins the last good release's
digests, looked up from its `tested-<SHA>` tags (ci/release_images.py).

The last good release is GitLab's newest successful `production` deployment
(ci.release_record): a release is recorded as successful only once its gate and smoke test
passed, and a rollback is recorded as a successful deployment of the release it brought
back, so GitLab shows prod running it. The stack's `imageTag` output, which a double
failure can leave naming the failed tag, is used only without CANNY_DEPLOYMENTS_TOKEN, and
then the job says so.
Exit: 0 deployed and smoke-tested; 1 anything else, with the cause and where prod is now.
"""

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests
from pulumi import automation as auto

from ci import (
    image_digests,
    pulumi_automation,
    pulumi_cli,
    release_checkout,
    release_images,
    release_record,
    update_outcome,
)
from ci.registry import Registry, RegistryError
from infra import stack_name

IMAGE_TAG_OUTPUT = "imageTag"


def smoke_test(url: str, wait: float) -> int:
    """ci.smoke's exit status against the deployed URL."""
    command = [sys.executable, "-m", "ci.smoke", url, "--wait", str(wait)]
    return subprocess.run(command, check=False).returncode


def deployed_tag(environ: Mapping[str, str]) -> str | None:
    """The image tag prod runs now, or None before the first deploy (no stack outputs)."""
    env = pulumi_cli.pulumi_environment(environ, stack_name.PROD_STACK)
    workspace = pulumi_automation.workspace(env)
    if stack_name.PROD_STACK not in pulumi_cli.existing_stacks(workspace):
        return None
    output = workspace.stack_outputs(stack_name.PROD_STACK).get(IMAGE_TAG_OUTPUT)
    tag = output.value if output is not None else None
    return tag if isinstance(tag, str) and tag else None


def last_good_release(environ: Mapping[str, str]) -> str | None:
    """The tag of the release prod last ran successfully (None before the first one);
    raise release_record.RecordError when GitLab's record cannot be read."""
    if not release_record.available(environ):
        print(
            f"prod_release: WARNING: no {release_record.DEPLOYMENTS_API_VARIABLE}: the previous "
            "release is the stack's imageTag output, which names a failed release after a failed "
            "rollback (docs/gitlab.md)",
            file=sys.stderr,
        )
        return deployed_tag(environ)
    commit = release_record.last_good_commit(environ)
    return release_images.release_tag(commit) if commit else None


def tested_digests(environ: Mapping[str, str], tag: str) -> dict[str, str]:
    """Image name -> digest of a release's tested images, from the registry (the job's own
    registry login, valid while the job runs); empty when they cannot be found, said so."""
    try:
        host, path = release_images.split_image(environ.get("CI_REGISTRY_IMAGE", ""))
        registry = Registry(
            f"https://{host}",
            environ.get("CI_REGISTRY_USER", ""),
            environ.get("CI_REGISTRY_PASSWORD", ""),
        )
        return release_images.release_digests(registry, path, release_images.commit_of(tag))
    except (RegistryError, requests.RequestException) as error:
        print(
            f"prod_release: WARNING: no digests for {tag} ({error}); it runs by its tag",
            file=sys.stderr,
        )
        return {}


def _knows_digests(directory: Path) -> bool:
    """Releases from before digest pinning refuse the unknown canny:backendDigest
    (infra/config.py rejects unknown settings): those roll back by tag."""
    config = directory / "infra" / "component_config.py"
    return config.is_file() and "backend_digest" in config.read_text()


def _up(
    environ: Mapping[str, str],
    tag: str | None,
    dotenv: Path,
    step: str,
    on_event: auto.OnEvent | None = None,
    digests: Mapping[str, str] | None = None,
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
            on_event=on_event,
            digests=digests,
        )
    except (auto.CommandError, subprocess.CalledProcessError):
        return False
    return True


def _rollback(environ: Mapping[str, str], previous: str, dotenv: Path) -> bool:
    """`pulumi up` of the previous release as a whole: its commit's program, stack file and
    bundle with its images (ci.release_checkout), or, when that commit cannot be checked
    out, this commit's program with the previous images, saying so."""
    digests = tested_digests(environ, previous)
    try:
        directory = release_checkout.checkout(previous)
    except release_checkout.CheckoutError as error:
        print(
            f"prod_release: cannot check out release {previous} ({error}); rolling back with "
            f"this commit's program and {previous}'s images",
            file=sys.stderr,
            flush=True,
        )
        # `pulumi up --config` saved the failed release's digests in this checkout's stack
        # file (https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/ "--config": "Config
        # to use during the update and save to the stack config file"): only the previous
        # release's own digests may replace them.
        config = pulumi_cli.stack_config(stack_name.PROD_STACK)
        if image_digests.CONFIG_KEYS["backend"] in config and not digests:
            print(
                f"prod_release: not rolling back: {previous}'s digests are unknown and this "
                "stack file pins the failed release's images",
                file=sys.stderr,
            )
            return False
        return _up(environ, previous, dotenv, "rollback", digests=digests)
    print(
        f"prod_release: rolling prod back to release {previous} as a whole: its program, "
        f"stack file and bundle ({directory})",
        flush=True,
    )
    env = release_checkout.environment(directory, environ)
    absolute_dotenv = dotenv.resolve()
    pins = digests if _knows_digests(directory) else {}
    with contextlib.chdir(directory):
        return _up(env, previous, absolute_dotenv, "rollback", digests=pins)


def _record_rollback(environ: Mapping[str, str], previous: str) -> None:
    """Show in GitLab that prod runs `previous` again, and make it the last good release."""
    if not release_record.available(environ):
        return
    commit = release_images.commit_of(previous)
    try:
        deployment = release_record.record_rollback(environ, commit)
    except release_record.RecordError as error:
        print(
            f"prod_release: WARNING: prod runs {previous} but GitLab's record does not say so "
            f"({error}); the environment shows the release before the failed one",
            file=sys.stderr,
        )
        return
    print(f"prod_release: recorded deployment {deployment}: production runs {commit} again")


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
    environ: Mapping[str, str],
    dotenv: Path,
    smoke_wait: float,
    image_tag: str | None = None,
    digests: Mapping[str, str] | None = None,
) -> int:
    """`image_tag` defaults to the commit SHA; deploy_prod passes the tested one and its
    images' digests."""
    try:
        previous = last_good_release(environ)
    except release_record.RecordError as error:
        print(
            f"prod_release: cannot read the last good release from GitLab ({error}); "
            "nothing deployed, prod is untouched",
            file=sys.stderr,
        )
        return 1
    new = pulumi_cli.image_tag(image_tag, environ)
    print(
        f"prod_release: deploying {new} (last good release: {previous or 'none yet'})",
        flush=True,
    )
    changes = update_outcome.Changes()
    if not _up(environ, new, dotenv, "release", changes.record, digests):
        if not changes.made:
            return _untouched(new, previous)
        began = ", ".join(changes.made)
        print(f"prod_release: the failed update had begun: {began}", file=sys.stderr)
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
    _record_rollback(environ, previous)
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
    parser.add_argument(
        "--image-digests", type=Path, help="release_images' record: run the images by digest"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = parse_args(argv)
    try:
        digests = (
            image_digests.from_release_record(args.image_digests) if args.image_digests else None
        )
        return release(environ, args.dotenv, args.smoke_wait, args.image_tag, digests)
    except image_digests.DigestError as error:
        print(f"prod_release: refused: {error}", file=sys.stderr)
        return 3
    except pulumi_cli.RefusedError as error:
        print(f"prod_release: refused: {error}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as error:
        failed = " ".join(error.cmd)
        print(f"prod_release: {failed} exited with {error.returncode}", file=sys.stderr)
        return 1
    except auto.CommandError as error:
        print(f"prod_release: pulumi failed:{error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
