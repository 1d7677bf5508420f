"""What the logs say about a request is what happened: the method the client sent, and
one X-Request-ID rule that the gateway and the backend both follow."""

import re
import socket
import uuid

import pytest
import requests

from localrun import LocalStack
from tests.integration.gateway.gateway_client import logged_request

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def raw_request_with_id(stack: LocalStack, head: str, request_id: str) -> None:
    """Send a request line and headers (no body) with an id, read the answer to the end."""
    data = f"{head}\r\nHost: x\r\nX-Request-ID: {request_id}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", stack.port), 15) as connection:
        connection.sendall(data.encode())
        while connection.recv(65536):
            pass


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("POST /api/images HTTP/1.1\r\nContent-Length: 999999999", 413),
        ("POST /api/images HTTP/1.1\r\nTransfer-Encoding: gzip", 501),
        ("DELETE /results/0123456789abcdef0123456789abcdef.png HTTP/1.1", 405),
        ("PUT /index.html HTTP/1.1\r\nContent-Length: 0", 405),
    ],
    ids=["413", "501", "405-results", "405-page"],
)
def test_errors_served_through_error_page_log_the_real_method(
    gateway: LocalStack, head: str, status: int
) -> None:
    """error_page turns the request into an internal GET; the log must not say GET."""
    request_id = f"method-{uuid.uuid4().hex}"
    raw_request_with_id(gateway, head, request_id)
    logged = logged_request(gateway, request_id)
    assert logged["status"] == status, logged
    assert logged["method"] == head.split(" ", 1)[0], logged


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("a", True),
        ("A" * 128, True),
        ("trace:span-1.2_3", True),
        ("", False),
        ("A" * 129, False),
        ("has space", False),
        ("a/b", False),
        ('x"y', False),
        ("é", False),
    ],
    ids=[
        "one-char",
        "128-chars",
        "colon-dot-underscore",
        "empty",
        "129-chars",
        "space",
        "slash",
        "quote",
        "non-ascii",
    ],
)
def test_one_request_id_rule_in_gateway_and_backend(
    gateway: LocalStack, sent: str, kept: bool
) -> None:
    """Accepted ids pass through unchanged to the backend and back; any other value is
    replaced by a generated id, and the backend logs that same id."""
    answer = requests.get(
        f"{gateway.url}/api/images",
        headers={"X-Request-ID": sent.encode()},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    answered = answer.headers["X-Request-ID"]
    if kept:
        assert answered == sent
    else:
        assert GENERATED_ID.fullmatch(answered), f"{sent!r} was answered as {answered!r}"
    logged = logged_request(gateway, answered)
    name = next(b.name for b in gateway.backends if b.address == logged["upstream_addr"])
    backend_log = (gateway.logs_dir / f"{name}.log").read_text()
    assert f'"request_id": "{answered}"' in backend_log, f"{name} logged another id"
