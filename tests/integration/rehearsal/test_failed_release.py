"""A release whose backend never becomes healthy, released the way deploy_prod releases:
`python -m ci.prod_release` against a `pulumi` that runs the program under the rehearsal
(infra/rehearse/pulumi_standin.py), so every `up` runs the remote steps on the droplets.

Prod runs a good release on both droplets (a first `ci.pulumi_cli up`). The bad release's
backend does not trust the bucket's certificate (Environment.publish, trusts_bucket=False),
so /readyz fails and `docker compose up --wait` on droplet 1 fails. The rollout stops
there: droplet 2's compose up waits for droplet 1's gate (infra/deploy.py, `after`), so it
never restarts and serves alone while the balancer's health check has droplet 1 out (and
nginx retries on droplet 2 what droplet 1 refuses: balancer.py, proxy_next_upstream). From
the engine's events prod_release sees that the failed update changed prod, runs `up` of the
previous release, and exits 1 saying prod runs it again; ci/smoke.py through the balancer
then passes.

Without the rollout gate (no `after` between the droplets) both compose ups run at once,
droplet 2 gets the bad release too, and this test fails.

Takes about 7 minutes with the image cache warm on the shared 2-core machine (measured 407 s:
the scenario 348 s, of which the first up 150 s and prod_release's failed up and rollback
185 s; the failed compose up waits out Docker's start period and retries).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.stack_credentials import CREDENTIALS
from infra import stack_name
from infra.rehearse.droplets import Droplet
from infra.rehearse.environment import Environment
from infra.rehearse.pulumi_standin import PulumiStandIn
from infra.rehearse.smoke import run_smoke
from tests.integration.rehearsal.rotation import uploads_through_balancer, wait_for_rotation

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]
GOOD = "rehearsal-good-1"
BAD = "rehearsal-bad-2"
JOB_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def prod(rehearsal_tools: None) -> Iterator[Environment]:
    with Environment("prod", log=lambda line: None) as env:
        env.publish(GOOD)
        env.publish(BAD, trusts_bucket=False)
        yield env


def _job_environment(env: Environment, folder: Path) -> dict[str, str]:
    """deploy_prod's environment: the production branch, prod's own CI/CD variables."""
    key_file = folder / "deploy_key"
    key_file.write_text(env.rehearsal.deploy_private_key)
    key_file.chmod(0o600)
    unsided = {credential.name for credential in CREDENTIALS}
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in unsided and "proxy" not in key.lower()
    }
    return inherited | {
        "GITLAB_CI": "true",
        "CI_COMMIT_BRANCH": stack_name.PROD_BRANCH,
        "CI_COMMIT_REF_PROTECTED": "true",
        "CI_JOB_ID": "7001",
        "CI_REGISTRY_IMAGE": f"{env.registry.address}/canny",
        # Never sent anywhere: the stand-in's cloud is this machine.
        "DIGITALOCEAN_TOKEN_PROD": "rehearsal-token",
        "SPACES_ACCESS_KEY_ID_PROD": "REHEARSALACCESSKEY",
        "SPACES_SECRET_ACCESS_KEY_PROD": "rehearsal-secret-key",
        "CANNY_SSH_KEY_FILE_PROD": str(key_file),
        "CANNY_SLACK_WEBHOOK_URL_PROD": "https://hooks.slack.invalid/services/rehearsal",
        "CANNY_REGISTRY_USER_PROD": env.registry.user,
        "CANNY_REGISTRY_PASSWORD_PROD": env.registry.password,
    }


def _job(pulumi: PulumiStandIn, environ: dict[str, str], folder: Path, *args: str) -> str:
    """Run `python -m ARGS` as a CI job in `folder`, serving its pulumi calls; its output
    and exit status."""
    output = folder / f"{args[0]}.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=folder,
            env=pulumi.environment(environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        code = pulumi.serve(process, JOB_TIMEOUT_S)
    return f"exit {code}\n{output.read_text()}"


def _containers(droplet: Droplet) -> set[str]:
    """Each running container's name and start time: a restart changes it."""
    docker = ["docker", "-H", f"unix://{droplet.docker_socket}"]
    ids = subprocess.run(
        [*docker, "ps", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    started = subprocess.run(
        [*docker, "inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *ids],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(started.stdout.splitlines())


def _tags(droplet: Droplet) -> tuple[str, str | None]:
    """(the tag deploy.sh last deployed, the one before it) on the droplet."""
    previous = droplet.app_dir / "image_tag.previous"
    return (
        (droplet.app_dir / "image_tag").read_text().strip(),
        previous.read_text().strip() if previous.exists() else None,
    )


def test_a_release_that_never_gets_ready_is_rolled_back(prod: Environment, tmp_path: Path) -> None:
    started = time.monotonic()
    first, second = prod.rehearsal.droplets
    with PulumiStandIn(prod.rehearsal, tmp_path / "pulumi") as pulumi:
        environ = _job_environment(prod, tmp_path)
        deployed = _job(
            pulumi, environ, tmp_path, "ci.pulumi_cli", "up", "--stack", "prod", "--image-tag", GOOD
        )
        assert deployed.startswith("exit 0"), deployed
        first_up_s = time.monotonic() - started
        wait_for_rotation(prod, 2)
        assert prod.balancer is not None
        serving = _containers(second)
        uploads = uploads_through_balancer(prod)
        with uploads as load:
            load.wait_for(5)
            release_started = time.monotonic()
            release = _job(pulumi, environ, tmp_path, "ci.prod_release", "--image-tag", BAD)
            release_s = time.monotonic() - release_started
            load.wait_for(5)
    print(f"\nprod_release of {BAD}:\n{release}")
    print(
        f"uploads through the balancer during the failed release and the rollback: "
        f"{uploads.sent} sent, {len(uploads.failures)} failed {uploads.failures[:5]}; "
        f"{prod.balancer.retried_requests()} retried on the other droplet"
    )
    assert release.startswith("exit 1"), release
    assert "the failed update had begun" in release, release
    assert f"prod runs {GOOD} again" in release, release
    # Droplet 1 got the bad release and failed; droplet 2's never began (the engine's
    # events of the release's update), and it never restarted.
    assert "(canny-prod-compose-up)" in release and "is unhealthy" in release, release
    (began_line,) = [line for line in release.splitlines() if "update had begun: " in line]
    began = began_line.split("update had begun: ", 1)[1].split(", ")
    assert any(change.endswith("::canny-prod-compose-up") for change in began), began
    assert not any("canny-prod-2-" in change for change in began), began
    assert _tags(first) == (GOOD, BAD)
    assert _tags(second) == (GOOD, None)
    assert _containers(second) == serving, "droplet 2 restarted"
    assert not uploads.failures, f"{len(uploads.failures)} of {uploads.sent} failed"
    wait_for_rotation(prod, 2)
    smoke = run_smoke(prod.balancer.url, prod.balancer.certificate)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    print(
        f"scenario: {time.monotonic() - started:.0f}s (first up {first_up_s:.0f}s, "
        f"prod_release's failed up and rollback {release_s:.0f}s)"
    )
