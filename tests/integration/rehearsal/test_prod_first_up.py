"""Prod's first `up`, rehearsed: two droplets pulling the images from the registry, results
in the Spaces stand-in, the load balancer with the program's health check in front; then
`ci/smoke.py` through the balancer over HTTPS.

Before the backends had egress (issue 24, item 3) this failed at the first droplet's
compose-up: with CANNY_STORAGE=s3 `/readyz` could not reach Spaces from compose's
`internal` network, and `docker compose up --wait` exited with "dependency failed to start:
container canny-backend-1-1 is unhealthy".

Takes about 5 minutes with the image cache warm (build, push, pull, compose twice, smoke).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from infra.rehearse.environment import Environment
from infra.rehearse.smoke import run_smoke

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]
TAG = "rehearsal-prod-1"
ROTATION_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def prod(rehearsal_tools: None) -> Iterator[Environment]:
    with Environment("prod", log=lambda line: None) as env:
        env.publish(TAG)
        yield env


def _wait_for_rotation(env: Environment, count: int) -> None:
    """DigitalOcean's health check admits a droplet after `healthy` passes in a row."""
    assert env.balancer is not None, "the program asked for no load balancer"
    deadline = time.monotonic() + ROTATION_TIMEOUT_S
    while len(env.balancer.in_rotation()) < count and time.monotonic() < deadline:
        time.sleep(1)
    assert len(env.balancer.in_rotation()) == count, env.balancer.in_rotation()


def test_first_up_then_smoke_through_the_balancer(prod: Environment) -> None:
    prod.rehearsal.up(TAG)
    _wait_for_rotation(prod, 2)
    assert prod.balancer is not None
    smoke = run_smoke(prod.balancer.url, prod.balancer.certificate)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    # The uploads' results went to the bucket, through the Spaces stand-in's TLS front.
    writes = [line for line in prod.spaces.access_log().splitlines() if '"PUT /' in line]
    assert writes, "no object was written to the Spaces stand-in"
