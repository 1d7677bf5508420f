"""The rehearsal's load balancer never answers 502 itself while a droplet can answer.

nginx's passive failover (max_fails) marks a droplet failed per worker; after fail_timeout it
sends ONE probe request there and skips it for every other request until that probe ends
(ngx_http_upstream_round_robin.c: a peer with `fails >= max_fails` is skipped while
`now - checked <= fail_timeout`, and picking it sets `checked = now`; `fails` is reset only
when a request to it succeeds). So while one droplet restarts, one failed request on the
other made the balancer answer "no live upstreams" (502) to every upload until the mark
expired: a fresh-clone CI run lost 66 uploads of the fleet test that way.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from infra.rehearse.balancer import LoadBalancer
from localrun.readiness import free_port


class DropsFirstConnection:
    """A droplet that fails its first request (the connection closed without an answer, as
    a gateway stopping mid-request does) and answers 200 to every later one."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                self.connections += 1
                connection.recv(65536)
                if self.connections > 1:
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def flaky_droplet() -> Iterator[DropsFirstConnection]:
    droplet = DropsFirstConnection()
    try:
        yield droplet
    finally:
        droplet.close()


def test_one_failed_request_does_not_take_the_last_droplet_out(
    tmp_path: Path,
    require_tool: Callable[[str], str],
    flaky_droplet: DropsFirstConnection,
) -> None:
    require_tool("nginx")
    restarting = f"127.0.0.1:{free_port()}"  # nothing listens: a droplet being redeployed
    # One kept-alive connection: every request goes to the same nginx worker.
    with (
        LoadBalancer(tmp_path / "lb", [restarting, flaky_droplet.address]) as lb,
        requests.Session() as session,
    ):
        session.trust_env = False
        session.verify = str(lb.certificate)
        first = session.get(f"{lb.url}/api/images", timeout=10)
        assert first.status_code == 502, "both droplets failed the first request"
        answers = [session.get(f"{lb.url}/api/images", timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert flaky_droplet.connections == 4
