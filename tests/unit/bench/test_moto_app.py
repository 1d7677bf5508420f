"""The bench's S3 emulator keeps a connection open across requests, as Spaces does: under
moto_server every request behind the delay proxy also paid a new connection's round trip."""

from __future__ import annotations

import http.client
from pathlib import Path

from bench.moto_app import start_emulator
from localrun import processes
from localrun.readiness import free_port


def test_two_requests_share_one_connection(tmp_path: Path) -> None:
    port = free_port()
    server = start_emulator(port, tmp_path)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        peers = []
        for _ in range(2):
            connection.request("GET", "/moto-api/")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
            assert answer.getheader("Connection", "").lower() != "close"
            assert connection.sock is not None, "the server closed the connection"
            peers.append(connection.sock.getsockname())
        assert peers[0] == peers[1], "the second request needed a new connection"
        connection.close()
    finally:
        processes.stop(server)
