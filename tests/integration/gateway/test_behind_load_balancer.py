"""Behind a load balancer: the client address comes from X-Forwarded-For only on
connections from a trusted proxy (nginx realip), and HSTS is sent only when that proxy
says the client used HTTPS.

The gateway trusts 127.0.0.1 (the "load balancer"); an untrusted client is simulated by
connecting from another loopback address, 127.0.0.2, which Linux routes like 127.0.0.1.
"""

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from localrun import LocalStack
from tests.integration.gateway.gateway_client import logged_request

TRUSTED_PROXY = "127.0.0.1"
UNTRUSTED_CLIENT = "127.0.0.2"
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.9"


@pytest.fixture(scope="module")
def proxied_gateway(
    tmp_path_factory: pytest.TempPathFactory, require_tool: Callable[[str], str]
) -> Iterator[LocalStack]:
    """Two uploads at once per client, then one a minute: the limit is reached within a test."""
    require_tool("nginx")
    run_dir: Path = tmp_path_factory.mktemp("proxied-gateway")
    stack = LocalStack(
        run_dir, upload_rate="1r/m", upload_burst=1, trusted_proxies=[f"{TRUSTED_PROXY}/32"]
    )
    with stack:
        yield stack


def send(
    stack: LocalStack, method: str, path: str, source: str, headers: Mapping[str, str]
) -> http.client.HTTPResponse:
    """One request from the given local source address; the body is read before returning."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.port, timeout=10, source_address=(source, 0)
    )
    try:
        request_headers = {"X-Request-ID": uuid.uuid4().hex, **headers}
        body = b"" if method == "POST" else None
        connection.request(method, path, body=body, headers=request_headers)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def logged_client(stack: LocalStack, response: http.client.HTTPResponse) -> str:
    return logged_request(stack, response.headers["X-Request-ID"])["remote_addr"]


def test_forwarded_for_from_an_untrusted_address_is_ignored(proxied_gateway: LocalStack) -> None:
    answer = send(proxied_gateway, "GET", "/healthz", UNTRUSTED_CLIENT, {"X-Forwarded-For": CLIENT})
    assert answer.status == 200
    assert logged_client(proxied_gateway, answer) == UNTRUSTED_CLIENT


def test_forwarded_for_from_the_trusted_proxy_is_the_client(proxied_gateway: LocalStack) -> None:
    answer = send(proxied_gateway, "GET", "/healthz", TRUSTED_PROXY, {"X-Forwarded-For": CLIENT})
    assert logged_client(proxied_gateway, answer) == CLIENT


def test_a_client_cannot_spoof_through_the_proxy(proxied_gateway: LocalStack) -> None:
    """The balancer appends the real peer to whatever the client sent: the rightmost
    untrusted entry wins, not the forged one on the left."""
    forged_then_real = f"{OTHER_CLIENT}, {CLIENT}"
    answer = send(
        proxied_gateway, "GET", "/healthz", TRUSTED_PROXY, {"X-Forwarded-For": forged_then_real}
    )
    assert logged_client(proxied_gateway, answer) == CLIENT


@pytest.mark.parametrize(
    ("source", "forwarded_proto", "expect_hsts"),
    [
        (TRUSTED_PROXY, "https", True),
        (TRUSTED_PROXY, "http", False),
        (UNTRUSTED_CLIENT, "https", False),
    ],
)
def test_hsts_only_for_https_through_the_trusted_proxy(
    proxied_gateway: LocalStack, source: str, forwarded_proto: str, expect_hsts: bool
) -> None:
    headers = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": forwarded_proto}
    answer = send(proxied_gateway, "GET", "/", source, headers)
    assert answer.status == 200
    hsts = answer.headers.get("Strict-Transport-Security")
    if expect_hsts:
        assert hsts == "max-age=31536000"
    else:
        assert hsts is None, f"HSTS sent for {forwarded_proto} from {source}"


def test_hsts_also_on_error_answers(proxied_gateway: LocalStack) -> None:
    headers = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
    answer = send(proxied_gateway, "GET", "/no-such-page", TRUSTED_PROXY, headers)
    assert answer.status == 404
    assert answer.headers.get("Strict-Transport-Security") == "max-age=31536000"


def upload_statuses(
    stack: LocalStack, source: str, forwarded_for: Callable[[int], str], count: int
) -> list[int]:
    """Empty POSTs: the backend answers 400/415, the rate limit 429, which is all we need."""
    return [
        send(stack, "POST", "/api/images", source, {"X-Forwarded-For": forwarded_for(n)}).status
        for n in range(count)
    ]


def test_rate_limit_is_per_forwarded_client(proxied_gateway: LocalStack) -> None:
    first = upload_statuses(proxied_gateway, TRUSTED_PROXY, lambda n: "192.0.2.10", 3)
    assert 429 not in first[:2] and first[2] == 429, first
    other = upload_statuses(proxied_gateway, TRUSTED_PROXY, lambda n: "192.0.2.11", 1)
    assert other != [429], "another client behind the same proxy shares the first one's limit"


def test_an_untrusted_client_cannot_dodge_the_rate_limit(proxied_gateway: LocalStack) -> None:
    statuses = upload_statuses(proxied_gateway, UNTRUSTED_CLIENT, lambda n: f"192.0.2.{100 + n}", 4)
    assert 429 not in statuses[:2] and statuses[2:] == [429, 429], statuses


class _EchoHeaders(BaseHTTPRequestHandler):
    """Stands in for the backends: answers with the request headers nginx sent it."""

    def do_GET(self) -> None:
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def bind_when_free(port: int, timeout: float = 10.0) -> ThreadingHTTPServer:
    """The killed gunicorn's workers may hold its port for a moment after SIGKILL."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ThreadingHTTPServer(("127.0.0.1", port), _EchoHeaders)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def gateway_to_echo(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[LocalStack]:
    """A trusting gateway whose backends are replaced, on their ports, by header echoes."""
    require_tool("nginx")
    stack = LocalStack(tmp_path / "echo", trusted_proxies=[f"{TRUSTED_PROXY}/32"])
    with stack:
        servers = []
        for index, backend in enumerate(stack.backends):
            stack.kill_backend(index)
            server = bind_when_free(backend.port)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        try:
            yield stack
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()


@pytest.mark.parametrize(
    ("source", "told_scheme"), [(TRUSTED_PROXY, "https"), (UNTRUSTED_CLIENT, "http")]
)
def test_backends_are_told_https_only_by_way_of_the_trusted_proxy(
    gateway_to_echo: LocalStack, source: str, told_scheme: str
) -> None:
    connection = http.client.HTTPConnection(
        "127.0.0.1", gateway_to_echo.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(
            "GET", "/api/echo", headers={"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
        )
        response = connection.getresponse()
        seen = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200
    assert seen["X-Forwarded-Proto"] == told_scheme
