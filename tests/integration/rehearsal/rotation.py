"""Helpers of the prod rehearsal tests: waiting for the load balancer to put droplets in
rotation, an owner key the deployed service issued, and uploads going on through the
balancer while a release rolls."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import requests
from canny.owner_keys import COOKIE_NAME, SECURE_COOKIE_NAME

from infra.rehearse.environment import Environment
from tests.integration.resilience.load_client import BackgroundUploads

ROTATION_TIMEOUT_S = 90


def wait_for_rotation(env: Environment, count: int) -> None:
    """DigitalOcean's health check admits a droplet after `healthy` passes in a row."""
    assert env.balancer is not None, "the program asked for no load balancer"
    deadline = time.monotonic() + ROTATION_TIMEOUT_S
    while len(env.balancer.in_rotation()) < count and time.monotonic() < deadline:
        time.sleep(1)
    assert len(env.balancer.in_rotation()) == count, env.balancer.in_rotation()


def issued_owner(env: Environment) -> dict[str, str]:
    """An `Authorization` header with a key the droplets issued: they sign keys with the
    stack's own secret (a RandomPassword), which no test knows. A list call without a key
    is answered with a new one in the cookie (`__Host-` over the balancer's HTTPS)."""
    assert env.balancer is not None, "the program asked for no load balancer"
    answer = requests.get(
        f"{env.balancer.url}/api/images", verify=str(env.balancer.certificate), timeout=30
    )
    assert answer.status_code == 200, answer.text
    cookies: SimpleCookie = SimpleCookie()
    for line in answer.raw.headers.getlist("Set-Cookie"):
        cookies.load(line)
    name = next((n for n in (SECURE_COOKIE_NAME, COOKIE_NAME) if n in cookies), None)
    assert name is not None, f"no owner key was issued: {answer.headers}"
    return {"Authorization": f"Bearer {cookies[name].value}"}


def uploads_through_balancer(env: Environment) -> BackgroundUploads:
    """One client under the gateway's upload rate (CANNY_UPLOAD_RATE, 5/s per address: every
    upload comes from this machine), so any failure is the roll's, not the rate limit's; it
    sends with a key the droplets issued, over the balancer's HTTPS."""
    assert env.balancer is not None, "the program asked for no load balancer"
    return BackgroundUploads(
        env.balancer,
        threads=1,
        pause_seconds=0.3,
        verify=str(env.balancer.certificate),
        owner=issued_owner(env),
    )
