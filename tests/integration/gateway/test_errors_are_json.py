"""Errors that nginx and gunicorn answer themselves, before any app code runs, are JSON
in the API's error shape too. Malformed requests go out as raw bytes over a socket:
HTTP libraries refuse to send most of them."""

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localrun import LocalStack
from localrun.nginx_config import render_template_file

# Malformed for nginx and gunicorn alike.
NUL_IN_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"
NO_REQUEST_LINE = b"GET\r\n\r\n"
LONG_URI = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
LONG_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
HTTP_2_REQUEST_LINE = b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"

MALFORMED = {
    "no Host header": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "NUL byte in a header": (NUL_IN_HEADER, 400),
    "no request line": (NO_REQUEST_LINE, 400),
    "URI over the buffer": (LONG_URI, 414),
    "header over the buffer": (LONG_HEADER, 431),
    "unknown transfer coding": (
        b"POST /api/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
    "HTTP/2.0 request line": (HTTP_2_REQUEST_LINE, 505),
    "declared body over the limit": (
        b"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
        413,
    ),
}
# gunicorn's own refusals (gunicorn/workers/base.py handle_error picks the status).
MALFORMED_FOR_GUNICORN = {
    "NUL byte in a header": (NUL_IN_HEADER, 400),
    "no request line": (NO_REQUEST_LINE, 400),
    "URI over the limit": (LONG_URI, 414),
    "header over the limit": (LONG_HEADER, 431),
    "too many headers": (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: y\r\n" % n for n in range(120))
        + b"\r\n",
        431,
    ),
    "HTTP/2.0 request line": (HTTP_2_REQUEST_LINE, 400),
}


def raw_answer(port: int, data: bytes, timeout: float = 15) -> bytes:
    """Send bytes as they are and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def raw_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """The parsed status, headers and body of the answer to raw bytes."""
    head, _, body = raw_answer(port, data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), f"no HTTP answer: {head[:200]!r}"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, f"{status}: {body[:300]!r}"
    assert headers["content-type"] == "application/json", headers
    assert headers["x-content-type-options"] == "nosniff", headers
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["code"] and error["message"], error


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_nginx_answers_malformed_requests_in_json(gateway: LocalStack, case: str) -> None:
    request, expected = MALFORMED[case]
    status, headers, body = raw_exchange(gateway.port, request)
    assert_json_error(status, headers, body, expected)
    assert "default-src 'self'" in headers["content-security-policy"], headers
    assert headers["referrer-policy"] == "no-referrer" and headers["x-frame-options"] == "DENY"
    assert len(headers["x-request-id"]) == 32, headers


@pytest.mark.parametrize("case", sorted(MALFORMED_FOR_GUNICORN))
def test_gunicorn_answers_malformed_requests_in_json(gateway: LocalStack, case: str) -> None:
    """A backend reached directly (or given a request nginx let through) answers JSON too."""
    request, expected = MALFORMED_FOR_GUNICORN[case]
    status, headers, body = raw_exchange(gateway.backends[0].port, request)
    assert_json_error(status, headers, body, expected)
    assert headers["connection"] == "close"


@pytest.fixture
def impatient_gateway(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[int]:
    """The gateway config with 1 s client timeouts (no backends needed): a timeout in a
    second instead of the real 60 s (header) and 10 s (body). Everything else is the
    template as shipped."""
    nginx = require_tool("nginx")
    stack = LocalStack(tmp_path)
    (stack.scratch_dir / "temp").mkdir(parents=True)
    stack.state_dir.mkdir()
    (tmp_path / "logs").mkdir()
    config = render_template_file(stack.gateway_values())
    marker = "        server_name _;\n"
    assert marker in config, "the gateway's server block changed: update this fixture"
    body_timeout = "        client_body_timeout 10s;\n"
    assert body_timeout in config, "the gateway's body timeout changed: update this fixture"
    config = config.replace(marker, marker + "        client_header_timeout 1s;\n").replace(
        body_timeout, "        client_body_timeout 1s;\n"
    )
    config_path = tmp_path / "nginx.conf"
    config_path.write_text(config)
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(config_path), "-e", str(stack.error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", stack.port), 1).close()
                break
            except OSError:
                assert process.poll() is None, stack.error_log.read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield stack.port
    finally:
        process.terminate()
        process.wait(15)
        shutil.rmtree(stack.scratch_dir)


def test_a_body_that_stops_arriving_is_closed_without_an_html_page(
    impatient_gateway: int,
) -> None:
    """nginx never writes a 408 page: it closes the connection (see the template)."""
    started = (
        b"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: 1000\r\n\r\n" + b"x" * 10
    )
    assert raw_answer(impatient_gateway, started) == b""
