"""A backend dying under load costs no request; the app keeps answering on one backend;
a restarted backend gets traffic again. Loopback only, bounded in count and time."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import requests

from localrun import LocalStack
from localrun.nginx_config import TEMPLATE_PATH
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


class RetryingClient:
    """Uploads the way a careful client sends them: an answer cut after its headers, or a
    503 that says when to come back (`Retry-After`), is sent once more.

    A SIGKILL between gunicorn's two writes (the status line and headers, then the body:
    `Response.send_headers` and `Response.write` in gunicorn/http/wsgi.py) leaves nginx with
    a response it has already started to pass on, which no proxy can retry
    (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream: "passing
    a request to the next server is only possible if nothing has been sent to a client
    yet"). And with one backend left, a burst beyond its workers' bounded queues is refused
    with 503 and `Retry-After` (docs/api.md) rather than held. Either way the id is the hash
    of the bytes and parameters, so the retry is safe: it must get 201 like any other upload.
    """

    def __init__(self) -> None:
        self.cut = 0
        self.deferred = 0
        self._lock = threading.Lock()

    def upload(self, stack: LocalStack, image: bytes) -> requests.Response:
        try:
            answer = upload(stack, image)
        except requests.exceptions.ChunkedEncodingError:
            with self._lock:
                self.cut += 1
            return upload(stack, image)
        if answer.status_code == 503 and answer.headers.get("Retry-After", "").isdigit():
            with self._lock:
                self.deferred += 1
            time.sleep(int(answer.headers["Retry-After"]))
            return upload(stack, image)
        return answer


def test_sigkill_of_a_backend_under_load_fails_no_upload(local_stack: LocalStack) -> None:
    images = [png(1000 + n) for n in range(UPLOADS)]
    client = RetryingClient()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [pool.submit(client.upload, local_stack, image) for image in images]
        deadline = time.monotonic() + 60
        while sum(f.done() for f in futures) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        local_stack.kill_backend(0)
        killed_at = sum(f.done() for f in futures)
        not_done = wait(futures, timeout=120).not_done
    assert not not_done, f"{len(not_done)} uploads did not finish within 120 s"
    statuses = [future.result().status_code for future in futures]
    failed = [status for status in statuses if status != 201]
    entries = [e for e in access_log_entries(local_stack) if e["method"] == "POST"]
    retried = sum(", " in entry["upstream_addr"] for entry in entries)
    print(
        f"\nfailover: {len(statuses)} uploads sent, {len(failed)} failed, backend-1 SIGKILLed "
        f"after {killed_at} finished, {retried} retried on the other backend, "
        f"{client.cut} answers cut mid-send and {client.deferred} deferred with Retry-After, "
        "each sent again by the client"
    )
    # Only answers in flight at the kill can be cut or deferred: at most one per client thread.
    assert client.cut + client.deferred <= CLIENT_THREADS, "more retries than uploads in flight"
    assert not failed, f"uploads failed while a backend died: {failed}"
    assert served_by(local_stack, entries) == {b.address for b in local_stack.backends}, (
        "both backends should have served uploads before the kill"
    )


def test_one_backend_down_then_both_down_then_back(local_stack: LocalStack) -> None:
    local_stack.kill_backend(0)
    for seed in range(2000, 2010):
        assert upload(local_stack, png(seed)).status_code == 201, "one backend must suffice"
        listed = requests.get(f"{local_stack.url}/api/images", timeout=10)
        assert listed.status_code == 200

    local_stack.kill_backend(1)
    down = requests.get(f"{local_stack.url}/api/images", timeout=10)
    assert down.status_code == 503, f"with no backend the API answered {down.status_code}"
    assert down.json()["error"]["code"] == "unavailable"
    assert down.headers.get("Retry-After") == "1", "a 503 no backend explained says when to retry"
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


def test_uploads_are_never_retried_after_a_timeout() -> None:
    """A backend that timed out may still be working on the upload and store it later: a
    retry would run it twice and tell the client it failed. Only connection errors (the
    backend refused, lost or closed the connection) are retried. Checked on the template
    because exercising it needs a 60 s read timeout (proxy_read_timeout).

    nginx passes a POST to the next server only where `non_idempotent` is listed
    (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream), so
    the rule that carries it is the one uploads follow; others (the load balancer's GET
    health check) may retry on a timeout."""
    retries = [
        [word.rstrip(";") for word in line.split()[1:]]
        for line in TEMPLATE_PATH.read_text().splitlines()
        if line.strip().startswith("proxy_next_upstream ")
    ]
    for_uploads = [conditions for conditions in retries if "non_idempotent" in conditions]
    assert len(for_uploads) == 1, retries
    conditions = for_uploads[0]
    assert "error" in conditions
    assert "timeout" not in conditions
    # A backend's busy 503 must not count toward max_fails: a burst would take both
    # backends out of rotation for everyone (the large-canvas burst test saw `unavailable`).
    assert "http_503" not in conditions
