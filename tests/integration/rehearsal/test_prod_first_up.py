"""Prod's first `up`, rehearsed: two droplets pulling the images from the registry, results
in the Spaces stand-in, the load balancer with the program's health check in front; then
`ci/smoke.py` through the balancer over HTTPS. Then a second `up` with a new image tag while
uploads go on through the balancer: only compose up and the gates run again, droplet after
droplet, and not one upload fails.

Before the backends had egress (issue 24, item 3) this failed at the first droplet's
compose-up: with CANNY_STORAGE=s3 `/readyz` could not reach Spaces from compose's
`internal` network, and `docker compose up --wait` exited with "dependency failed to start:
container canny-backend-1-1 is unhealthy".

Takes about 7 minutes with the image cache warm (builds, pushes, pulls, four compose ups).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.rehearse.environment import Environment
from infra.rehearse.smoke import run_smoke
from tests.integration.rehearsal.rotation import uploads_through_balancer, wait_for_rotation

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]
TAG = "rehearsal-prod-1"
NEXT_TAG = "rehearsal-prod-2"


@pytest.fixture(scope="module")
def prod(rehearsal_tools: None) -> Iterator[Environment]:
    with Environment("prod", log=lambda line: None) as env:
        env.publish(TAG)
        yield env


def test_first_up_then_smoke_through_the_balancer(prod: Environment) -> None:
    prod.rehearsal.up(TAG)
    wait_for_rotation(prod, 2)
    assert prod.balancer is not None
    smoke = run_smoke(prod.balancer.url, prod.balancer.certificate)
    assert smoke.returncode == 0 and "smoke test passed" in smoke.stdout, (
        smoke.stdout + smoke.stderr
    )
    # The uploads' results went to the bucket, through the Spaces stand-in's TLS front.
    writes = [line for line in prod.spaces.access_log().splitlines() if '"PUT /' in line]
    assert writes, "no object was written to the Spaces stand-in"


def test_second_up_with_a_new_tag_rolls_without_losing_an_upload(prod: Environment) -> None:
    prod.publish(NEXT_TAG)
    uploads = uploads_through_balancer(prod)
    with uploads as load:
        load.wait_for(5)
        result = prod.rehearsal.up(NEXT_TAG)
        load.wait_for(5)
    assert set(result.ran()) == {
        f"{host}-{step}"
        for host in ("canny-prod", "canny-prod-2")
        for step in ("compose-up", "readiness-gate")
    }, result.ran()
    assert not uploads.failures, (
        f"{len(uploads.failures)} of {uploads.sent}: {uploads.failures[:5]}"
    )
    env_file = (prod.rehearsal.droplets[1].app_dir / ".env").read_text()
    assert f"IMAGE_TAG={NEXT_TAG}" in env_file
