"""A test stack's first `up`, rehearsed: one droplet, results on its disk, reached directly
(no load balancer), then `ci/smoke.py` against it (its destroy: test_destroy.py).

Takes about 2-3 minutes (images from the cache, push, pull, compose up, smoke).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.rehearse.environment import Environment
from infra.rehearse.smoke import run_smoke

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]
TAG = "rehearsal-test-1"


@pytest.fixture(scope="module")
def test_stack(rehearsal_tools: None) -> Iterator[Environment]:
    with Environment("test", log=lambda line: None) as env:
        env.publish(TAG)
        env.rehearsal.up(TAG)
        yield env


def test_first_up_serves_uploads_from_the_droplet(test_stack: Environment) -> None:
    droplet = test_stack.rehearsal.droplets[0]
    smoke = run_smoke(f"http://{droplet.address}", None)
    assert smoke.returncode == 0 and "smoke test passed" in smoke.stdout, (
        smoke.stdout + smoke.stderr
    )
    env_file = (droplet.app_dir / ".env").read_text()
    assert "CANNY_STORAGE=file" in env_file
    assert f"IMAGE_TAG={TAG}" in env_file
