"""gunicorn's gthread worker, but the errors gunicorn answers itself are JSON.

A request gunicorn cannot parse (a bad request line, a header over its limits, an
unsupported Transfer-Encoding, ...) never reaches Flask: the worker's `handle_error`
picks the status and writes an HTML page with `gunicorn.util.write_error`
(gunicorn/workers/base.py `Worker.handle_error`, gunicorn/util.py `write_error`, in
benoitc/gunicorn). A worker class is gunicorn's supported place to change that
(`worker_class`, https://docs.gunicorn.org/en/stable/settings.html#worker-class).
gunicorn keeps choosing the status and logging the error; only the body is replaced:
the HTML response it writes is captured, and its status line is answered as JSON.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from canny.errors import error_body


class _CapturedResponse:
    """Stands in for the client socket while gunicorn writes its HTML error page."""

    def __init__(self, client: socket.socket) -> None:
        self._client = client
        self.written = b""

    def sendall(self, data: bytes) -> None:
        self.written += data

    def gettimeout(self) -> float | None:
        return self._client.gettimeout()

    def setblocking(self, flag: bool) -> None:
        """Nothing is sent on this stand-in, so blocking mode does not matter."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP response, 500 if it has none."""
    parts = response.split(b"\r\n", 1)[0].split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 500


def json_error_response(status: int) -> bytes:
    """A complete HTTP/1.1 error response in the API's JSON error shape."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    body = json.dumps(error_body(code, f"{phrase}.")).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorThreadWorker(ThreadWorker):
    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        captured = _CapturedResponse(client)
        super().handle_error(req, captured, addr, exc)
        if not captured.written:
            return
        try:
            util.write_nonblock(client, json_error_response(status_of(captured.written)))
        except OSError:
            self.log.debug("Failed to send error message.")
