"""Waiting for the rehearsal's load balancer to put droplets in rotation."""

from __future__ import annotations

import time

from infra.rehearse.environment import Environment

ROTATION_TIMEOUT_S = 90


def wait_for_rotation(env: Environment, count: int) -> None:
    """DigitalOcean's health check admits a droplet after `healthy` passes in a row."""
    assert env.balancer is not None, "the program asked for no load balancer"
    deadline = time.monotonic() + ROTATION_TIMEOUT_S
    while len(env.balancer.in_rotation()) < count and time.monotonic() < deadline:
        time.sleep(1)
    assert len(env.balancer.in_rotation()) == count, env.balancer.in_rotation()
