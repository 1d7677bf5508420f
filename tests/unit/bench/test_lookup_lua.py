"""bench/lookup.lua driven by the real wrk against a recording server on 127.0.0.1:
the same GET lookup by SHA-256 with the upload's owner key, stopped at the limit, and a
404 (a lookup that missed) counted as an error, so the bench cannot report a miss as fast."""

import hashlib
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from bench.load import LookupLoad, UploadLoad
from bench.multipart import envelope
from tests.unit.bench.upload_receiver import QuietServer

IMAGE = b"bytes of a processed image"


class LookupRecorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: ClassVar[list[tuple[str, str, str | None]]] = []
    status: ClassVar[HTTPStatus] = HTTPStatus.OK

    def do_GET(self) -> None:
        self.requests.append((self.command, self.path, self.headers["Authorization"]))
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the recorded requests, not a log."""


@pytest.fixture
def lookup_server(require_tool: Callable[[str], str]) -> Iterator[str]:
    require_tool("wrk")
    LookupRecorder.requests = []
    server = QuietServer(("127.0.0.1", 0), LookupRecorder)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _lookup(url: str, tmp_path: Path) -> tuple[UploadLoad, LookupLoad]:
    upload = UploadLoad(url, envelope("x.png", "image/png"), IMAGE, tmp_path, "bench-owner-key")
    return upload, LookupLoad(upload, hashlib.sha256(IMAGE).hexdigest())


def test_lookups_ask_for_the_file_by_sha256_as_its_owner(
    lookup_server: str, tmp_path: Path
) -> None:
    upload, lookup = _lookup(lookup_server, tmp_path)
    result = lookup.run(concurrency=1, requests=20, max_seconds=20)
    assert result.requests >= 20 and result.errors == 0, result
    assert len(LookupRecorder.requests) <= 20 + 1, "wrk must stop near the limit"
    expected = ("GET", f"/api/images/lookup?sha256={hashlib.sha256(IMAGE).hexdigest()}")
    assert {request[:2] for request in LookupRecorder.requests} == {expected}
    assert {request[2] for request in LookupRecorder.requests} == {f"Bearer {upload.owner_key}"}


def test_a_lookup_that_misses_is_an_error(
    lookup_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LookupRecorder, "status", HTTPStatus.NOT_FOUND)
    _, lookup = _lookup(lookup_server, tmp_path)
    result = lookup.run(concurrency=1, requests=5, max_seconds=20)
    assert result.errors >= 5, result
