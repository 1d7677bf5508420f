"""The backend's gunicorn worker: gunicorn's gthread worker, changed at two edges, and its
logger without the access log.

A worker class is gunicorn's supported place for such changes (`worker_class`,
https://docs.gunicorn.org/en/stable/settings.html#worker-class); gunicorn sources cited
are benoitc/gunicorn gunicorn/workers/base.py and gunicorn/workers/gthread.py.

1. The errors gunicorn answers itself are JSON. A request gunicorn cannot parse (a bad
   request line, a header over its limits, ...) never reaches Flask: `Worker.handle_error`
   picks the status and writes an HTML page with `gunicorn.util.write_error`. gunicorn
   keeps choosing the status and logging; the HTML it writes is captured and its status
   answered in the API's JSON error shape.
2. A stopping worker lets go of the listening socket at once. `ThreadWorker.run` stops
   accepting, then finishes its requests (and lingers on kept-alive connections) for up
   to seconds, and only closes its listeners at the very end. Meanwhile the kernel still
   completes new connections into the listen backlog, and closing resets them: nginx has
   sent an upload on such a connection, so it may not retry it elsewhere. Once its master
   is gone (SIGKILL) the workers are the last holders of the socket, so each takes what is
   already queued and closes its listener when it stops accepting; new connections are
   then refused, which nginx does retry on the other backend.
"""

from __future__ import annotations

import json
import os
import select
import socket
from http import HTTPStatus
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers.gthread import ThreadWorker

from canny.errors import error_body


class NoAccessLog(glogging.Logger):
    """gunicorn's logger, with no access log: the app logs each request itself
    (canny.request_log). gunicorn's `Logger.access` counts the access log as on whenever a
    logging config is set, as gunicorn.conf.py's `logconfig_dict` is, and then builds every
    request's log atoms for a logger that has no handler (gunicorn/glogging.py,
    `access_log_enabled`): measured at about 3 % of a worker's Python time per request
    (docs/performance-levers.md). `logger_class` is gunicorn's place for such a change
    (https://docs.gunicorn.org/en/stable/settings.html#logger-class)."""

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        """Nothing to build and nobody to tell."""


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


class CannyThreadWorker(ThreadWorker):
    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
        captured = _CapturedResponse(client)
        super().handle_error(req, captured, addr, exc)
        if not captured.written:
            return
        try:
            util.write_nonblock(client, json_error_response(status_of(captured.written)))
        except OSError:
            self.log.debug("Failed to send error message.")

    def set_accept_enabled(self, enabled: bool) -> None:
        # Called with False also when the worker is merely at worker_connections; only a
        # stop (told to, or its master gone) lets go of the listeners.
        stopping = self._accepting and not enabled and not self._staying()
        super().set_accept_enabled(enabled)
        if stopping:
            self._let_go_of_listeners()

    def _staying(self) -> bool:
        return self.alive and self.ppid == os.getppid()

    def _let_go_of_listeners(self) -> None:
        for listener in self.sockets:
            # Connections already completed by the kernel are served, not reset. accept()
            # ignores EAGAIN, when another worker took the connection first.
            while select.select([listener], [], [], 0)[0]:
                self.accept(listener)
            listener.close()
