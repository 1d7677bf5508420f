"""The load's owner key comes from the service: a made-up one is refused since keys are signed."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from canny import create_app
from canny.settings import Settings
from werkzeug.serving import make_server

from bench.load import LoadError, issued_owner_key
from tests.conftest import LoopbackHttpServer
from tests.owner_keys_for_tests import TEST_OWNER_KEYS


@pytest.fixture
def service_url(tmp_path: Path) -> Iterator[str]:
    """The real backend app, served on 127.0.0.1 for the test."""
    server = make_server("127.0.0.1", 0, create_app(Settings(results_dir=tmp_path)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_the_key_is_one_the_service_signed(service_url: str) -> None:
    key = issued_owner_key(service_url)
    assert TEST_OWNER_KEYS.verifies(key)


def test_a_service_that_issues_no_key_is_a_load_error() -> None:
    class NoCookie(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with LoopbackHttpServer(NoCookie) as server, pytest.raises(LoadError, match="no owner key"):
        issued_owner_key(f"http://{server.address}")
