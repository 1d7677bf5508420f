"""A backend SIGKILLed while it processes an upload: the client gets the result through
nginx's retry on the other backend, or, with no backend left, a clean JSON error; never
a hang."""

import threading

import pytest
import requests

from bench import images
from localrun import LocalStack
from tests.integration.gateway.gateway_client import logged_request
from tests.integration.resilience.load_client import CLIENT_TIMEOUT_SECONDS, wait_until_busy


@pytest.fixture(scope="module")
def slow_upload() -> bytes:
    """A 4K PNG: long enough on a backend (a few hundred ms) to be killed mid-request."""
    return images.sample("4K", "png").data


def upload_in_background(stack: LocalStack, data: bytes) -> tuple[threading.Thread, list]:
    outcome: list = []

    def send() -> None:
        try:
            outcome.append(
                requests.post(
                    f"{stack.url}/api/images",
                    files={"file": ("big.png", data, "image/png")},
                    timeout=CLIENT_TIMEOUT_SECONDS,
                )
            )
        except requests.RequestException as error:
            outcome.append(error)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize(
    ("other_backend_up", "expected_statuses"),
    [(True, {201}), (False, {502, 503})],
    ids=["retried-on-the-other-backend", "no-backend-left"],
)
def test_sigkill_mid_request(
    local_stack: LocalStack, slow_upload: bytes, other_backend_up: bool, expected_statuses: set
) -> None:
    candidates = [0, 1]
    if not other_backend_up:
        local_stack.kill_backend(1)
        candidates = [0]
    thread, outcome = upload_in_background(local_stack, slow_upload)
    busy = wait_until_busy(local_stack, candidates, done=lambda: bool(outcome))
    local_stack.kill_backend(busy)
    thread.join(CLIENT_TIMEOUT_SECONDS + 5)

    assert outcome, "the client thread did not finish"
    answer = outcome[0]
    assert isinstance(answer, requests.Response), f"no HTTP answer, the client saw {answer!r}"
    assert answer.status_code in expected_statuses, f"{answer.status_code}: {answer.text[:300]}"
    assert answer.headers["Content-Type"].startswith("application/json")
    logged = logged_request(local_stack, answer.headers["X-Request-ID"])
    assert local_stack.backends[busy].address in logged["upstream_addr"], (
        f"the killed backend never had the request: {logged}"
    )
    if answer.status_code == 201:
        assert answer.json()["width"] == 3840, "the retried upload must give the full result"
        assert ", " in logged["upstream_addr"], f"nginx did not retry: {logged}"
    else:
        assert set(answer.json()["error"]) == {"code", "message"}, answer.text
