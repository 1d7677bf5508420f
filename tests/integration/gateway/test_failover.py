"""A backend dying under load costs only the uploads it had received; the app keeps
answering on one backend; a restarted backend gets traffic again. Loopback only, bounded
in count and time."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor, wait

import requests
from canny.edge_params import EdgeParams
from canny.storage import result_id

from localrun import LocalStack
from tests.integration.gateway.gateway_client import access_log_entries, png, upload

UPLOADS = 200
CLIENT_THREADS = 8
KILL_AFTER = 50


def served_by(stack: LocalStack, entries: list[dict]) -> set[str]:
    """Backends that answered these requests (a retried request names both)."""
    addresses = {backend.address for backend in stack.backends}
    return {
        address
        for entry in entries
        for address in entry["upstream_addr"].split(", ")
        if address in addresses
    }


def test_sigkill_of_a_backend_under_load_fails_only_uploads_it_had_received(
    local_stack: LocalStack,
) -> None:
    """The gateway retries an upload on the other backend only when the first never
    received it (nginx.conf.template, proxy_next_upstream): uploads in flight on the
    killed backend fail with a JSON error and succeed when sent again; every other
    upload succeeds."""
    images = [png(1000 + n) for n in range(UPLOADS)]
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [pool.submit(upload, local_stack, image) for image in images]
        deadline = time.monotonic() + 60
        while sum(f.done() for f in futures) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        local_stack.kill_backend(0)
        killed_at = sum(f.done() for f in futures)
        not_done = wait(futures, timeout=120).not_done
    assert not not_done, f"{len(not_done)} uploads did not finish within 120 s"
    responses = [future.result() for future in futures]
    failed = [
        (image, r) for image, r in zip(images, responses, strict=True) if r.status_code != 201
    ]
    entries = [e for e in access_log_entries(local_stack) if e["method"] == "POST"]
    retried = sum(", " in entry["upstream_addr"] for entry in entries)
    print(
        f"\nfailover: {len(responses)} uploads sent, {len(failed)} failed (in flight on the "
        f"killed backend), backend-1 SIGKILLed after {killed_at} finished, {retried} retried "
        "on the other backend before it received them"
    )
    assert len(failed) <= CLIENT_THREADS, (
        f"only uploads in flight at the kill may fail: {[r.status_code for _, r in failed]}"
    )
    for image, response in failed:
        assert response.status_code in (502, 503), response.text
        assert set(response.json()["error"]) == {"code", "message"}
        # The killed backend may have written the result just before it died, unable to
        # answer: sending the upload again is then a cache hit with the same id, so a
        # client that retries never sees two results either way.
        again = upload(local_stack, image)
        assert again.status_code == 201, f"sent again, it succeeds: {again.text}"
        assert again.json()["id"] == result_id(image, EdgeParams())
    assert served_by(local_stack, entries) == {b.address for b in local_stack.backends}, (
        "both backends should have served uploads before the kill"
    )


def wait_until_refused(address: str, timeout: float = 10.0) -> None:
    """SIGKILL reaches a backend's workers a moment after its master is reaped; until
    they are gone their listening socket still accepts connections, and an upload it
    accepts fails (it is not retried once sent). Wait until connections are refused."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{address} still accepts connections {timeout} s after SIGKILL")


def test_one_backend_down_then_both_down_then_back(local_stack: LocalStack) -> None:
    local_stack.kill_backend(0)
    wait_until_refused(local_stack.backends[0].address)
    for seed in range(2000, 2010):
        answer = upload(local_stack, png(seed))
        assert answer.status_code == 201, f"one backend must suffice: {answer.text}"
        listed = requests.get(f"{local_stack.url}/api/images", timeout=10)
        assert listed.status_code == 200

    local_stack.kill_backend(1)
    down = requests.get(f"{local_stack.url}/api/images", timeout=10)
    assert down.status_code == 503, f"with no backend the API answered {down.status_code}"
    assert down.json()["error"]["code"] == "unavailable"
    assert requests.get(f"{local_stack.url}/healthz", timeout=10).status_code == 200

    local_stack.start_backend(0)
    local_stack.start_backend(1)
    already_logged = len(access_log_entries(local_stack))
    everyone = {backend.address for backend in local_stack.backends}
    deadline = time.monotonic() + 30  # nginx retries a failed server after fail_timeout (5 s)
    while time.monotonic() < deadline:
        answer = requests.get(f"{local_stack.url}/api/images", timeout=10)
        assert answer.status_code == 200, f"restarted stack answered {answer.status_code}"
        if served_by(local_stack, access_log_entries(local_stack)[already_logged:]) == everyone:
            return
        time.sleep(0.1)
    raise AssertionError("after restart, not both backends got requests within 30 s")
