"""bench/upload.lua driven by the real wrk against a recording server on 127.0.0.1:
valid multipart uploads, new bytes per request when tagged, stopped at the limit, all
sent with the load's one owner key."""

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from bench.load import UploadLoad
from bench.multipart import envelope
from tests.unit.bench.upload_receiver import QuietServer, parse

ISSUED = itertools.count()
IMAGE = b"\x89PNG\r\n\x1a\nnot really an image, but bytes the server must get back"


class Recorder(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []
    authorizations: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.headers["Content-Type"], body))
        self.authorizations.append(self.headers["Authorization"])
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self) -> None:
        """A new owner key as the cookie, as the service answers a call without one."""
        self.send_response(200)
        self.send_header("Set-Cookie", f"canny_owner=issued-{next(ISSUED)}; Path=/api/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the recorded bodies, not a log."""


@pytest.fixture
def recorder(require_tool: Callable[[str], str]) -> Iterator[tuple[str, list]]:
    require_tool("wrk")
    Recorder.bodies = []
    Recorder.authorizations = []
    server = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("tag", "distinct"), [("r1c2", 10), ("", 1)])
def test_uploads_are_valid_and_tagged(
    recorder: tuple[str, list], tmp_path: Path, tag: str, distinct: int
) -> None:
    url, bodies = recorder
    load = UploadLoad(url, envelope("x.png", "image/png"), IMAGE, tmp_path, "bench-owner-key")
    result = load.run(concurrency=2, requests=10, tag=tag, max_seconds=20)
    assert result.requests >= 10 and result.errors == 0, result
    assert len(bodies) <= 10 + 2, "wrk must stop near the limit, not run for its duration"
    files = [parse(content_type, body)[1]["file"] for content_type, body in bodies]
    assert all(file_bytes.startswith(IMAGE) for _, file_bytes in files), "image bytes first"
    assert len({file_bytes for _, file_bytes in files[:10]}) == distinct
    assert set(Recorder.authorizations) == {f"Bearer {load.owner_key}"}, "one owner for all"
    if tag:
        tail = re.compile(re.escape(f"{tag}-").encode() + rb"\d{9}")
        assert all(tail.fullmatch(data[len(IMAGE) :]) for _, data in files), "<tag>-<counter>"


def test_each_tagged_run_has_a_new_owner_and_an_untagged_one_keeps_it(
    recorder: tuple[str, list], tmp_path: Path
) -> None:
    """New uploads of one owner across a full run passed the owner's quota (1000 results)."""
    url, _ = recorder
    load = UploadLoad(url, envelope("x.png", "image/png"), IMAGE, tmp_path, "bench-owner-key")
    owners = []
    for tag in ("r1c1", "r1c2", ""):
        load.run(concurrency=1, requests=2, tag=tag, max_seconds=20)
        owners.append(load.owner_key)
    assert owners[0] != owners[1] == owners[2]
    assert Recorder.authorizations[-1] == f"Bearer {owners[2]}"


def test_a_server_that_issues_no_owner_keys_keeps_the_given_one(
    recorder: tuple[str, list], tmp_path: Path
) -> None:
    """The naive peer has no owner keys (a GET of /api/images there is 405)."""
    url, _ = recorder
    load = UploadLoad(
        url, envelope("x.png", "image/png"), IMAGE, tmp_path, "peer-key", issues_owners=False
    )
    load.run(concurrency=1, requests=2, tag="r1peer", max_seconds=20)
    assert load.owner_key == "peer-key"
    assert Recorder.authorizations[-1] == "Bearer peer-key"
