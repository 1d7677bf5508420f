"""Clients that trickle their uploads do not hold up anyone else: nginx buffers request
bodies, so a backend sees an upload only once it has fully arrived."""

import socket

import requests

from bench.multipart import envelope
from localrun import LocalStack
from tests.integration.resilience.load_client import CLIENT_TIMEOUT_SECONDS, unique_png, upload

# More stalled uploads than all backend worker threads together could hold.
SLOW_CLIENTS = 24
FAST_UPLOADS = 10


def start_slow_upload(stack: LocalStack, data: bytes) -> tuple[socket.socket, bytes]:
    """Send the headers and half the body; return the socket and the rest still to send."""
    form = envelope("slow.png", "image/png")
    body = form.body(data)
    head = (
        f"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n"
        f"Content-Type: {form.content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", stack.port), CLIENT_TIMEOUT_SECONDS)
    half = len(body) // 2
    connection.sendall(head + body[:half])
    return connection, body[half:]


def finish_upload(connection: socket.socket, rest: bytes) -> bytes:
    with connection:
        connection.sendall(rest)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_stalled_uploads_do_not_block_other_clients(local_stack: LocalStack) -> None:
    slow = [start_slow_upload(local_stack, unique_png(index)) for index in range(SLOW_CLIENTS)]
    try:
        answers = [upload(local_stack, unique_png(1000 + index)) for index in range(FAST_UPLOADS)]
    except requests.Timeout as error:
        raise AssertionError(f"stalled uploads blocked another client: {error}") from None
    assert [a.status_code for a in answers] == [201] * FAST_UPLOADS, [a.text for a in answers]
    finished = [finish_upload(connection, rest) for connection, rest in slow]
    statuses = [answer.split(b" ", 2)[1] for answer in finished]
    assert statuses == [b"201"] * SLOW_CLIENTS, f"the slow uploads, once complete: {statuses}"
