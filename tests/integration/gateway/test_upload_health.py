"""/healthz/upload, the load balancer's health check: healthy only while a backend of this
gateway can store uploads, unlike /healthz, which is nginx alone."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from localrun import LocalStack
from tests.conftest import pick_free_port

HEALTH_TIMEOUT_SECONDS = 10


def upload_health(stack: LocalStack) -> requests.Response:
    return requests.get(f"{stack.url}/healthz/upload", timeout=HEALTH_TIMEOUT_SECONDS)


def test_healthy_while_both_backends_serve(local_stack: LocalStack) -> None:
    answer = upload_health(local_stack)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready"}


@pytest.mark.parametrize("down", [0, 1])
def test_one_backend_down_is_still_healthy(local_stack: LocalStack, down: int) -> None:
    local_stack.kill_backend(down)
    for _ in range(3):  # whichever backend nginx would pick first
        assert upload_health(local_stack).status_code == 200


def test_both_backends_down_is_unhealthy_while_nginx_lives(local_stack: LocalStack) -> None:
    local_stack.kill_backend(0)
    local_stack.kill_backend(1)
    answer = upload_health(local_stack)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert requests.get(f"{local_stack.url}/healthz", timeout=5).status_code == 200


def test_healthy_again_after_a_backend_returns(local_stack: LocalStack) -> None:
    local_stack.kill_backend(0)
    local_stack.kill_backend(1)
    assert upload_health(local_stack).status_code == 503
    local_stack.start_backend(1)
    assert upload_health(local_stack).status_code == 200


def test_unwritable_results_are_unhealthy(
    tmp_path: Path, tmpfs: Callable[[str, str], Path], require_tool: Callable[[str], str]
) -> None:
    results = tmpfs("results", "size=1m")
    # A backend is ready only with room for two uploads at the limit: well under 1 MB here.
    stack = LocalStack(
        tmp_path / "stack", pick_free_port(), results_dir=results, max_upload_bytes=256 * 1024
    )
    with stack:
        assert upload_health(stack).status_code == 200
        subprocess.run([require_tool("mount"), "-o", "remount,ro", str(results)], check=True)
        answer = upload_health(stack)
        assert answer.status_code == 503, answer.text
        assert stack.exited_process() is None, "both backends should live on, just not ready"
