"""The workers of a SIGKILLed gunicorn master finish what they have and stop; a new
connection meanwhile must be refused (nginx then retries the upload on the other backend),
never accepted by the kernel and reset later (nginx may not retry an upload it has sent)."""

import http.client
import os
import signal
import socket
import time
from collections import Counter

from localrun import LocalStack

WATCH_SECONDS = 6.0


def one_request(address: tuple[str, int]) -> str:
    """'refused', 'served' or 'dropped' (connected, sent, and no answer came back)."""
    try:
        connection = socket.create_connection(address, timeout=10)
    except ConnectionRefusedError:
        return "refused"
    with connection:
        try:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        except OSError:
            return "dropped"
    return "served" if answer.startswith(b"HTTP/1.1 200") else "dropped"


def test_workers_of_a_killed_master_refuse_new_connections_instead_of_dropping_them(
    local_stack: LocalStack,
) -> None:
    backend = local_stack.backends[0]
    assert backend.pid is not None
    host, port = backend.address.split(":")
    # Kept-alive connections make a stopping gthread worker linger on them (gunicorn's
    # STOP_KEEPALIVE_LINGER, 2 s), as nginx's idle upstream connections do.
    idle = []
    for _ in range(4):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        idle.append(connection)

    os.kill(backend.pid, signal.SIGKILL)  # the master only: its workers are orphaned
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        outcomes[one_request((host, int(port)))] += 1
        time.sleep(0.02)
    for connection in idle:
        connection.close()

    assert outcomes["dropped"] == 0, f"connections accepted and then dropped: {dict(outcomes)}"
    assert outcomes["refused"] > 0, f"the orphaned workers never let go: {dict(outcomes)}"
