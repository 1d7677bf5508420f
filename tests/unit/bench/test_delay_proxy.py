"""The bucket bench's delay proxy, run as a process of its own: its work never competes
with the measured service's interpreter, and it still adds the round trip."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.storage_latency import ROUND_TRIP_S, start_delay_proxy
from localrun import processes
from localrun.readiness import free_port


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        """Quiet: the test reads no log."""


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_proxy_process_forwards_a_round_trip_later(upstream: int, tmp_path: Path) -> None:
    port = free_port()
    proxy = start_delay_proxy(upstream, port, tmp_path)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")  # the first exchange also pays the handshake
        assert connection.getresponse().read() == b"ok"
        started = time.monotonic()
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"ok"
        assert time.monotonic() - started >= ROUND_TRIP_S
        connection.close()
    finally:
        processes.stop(proxy)
    assert proxy.returncode is not None
