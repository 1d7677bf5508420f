"""Fair share under abuse (issue 28): one client at 16 concurrent heavy uploads cannot
hold everyone else's uploads, and a body trickled byte by byte holds one slot, no more.

Loopback only, bounded in count and time. The second client comes from 127.0.0.2 (all of
127.0.0.0/8 is loopback on Linux), so the per-address limit tells the two apart as it
would two users; each client has its own owner key.
"""

import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import urllib3

from localrun import LocalStack
from tests.integration.backend.backend_probes import BackendMemory, ReadProbe
from tests.owner_keys_for_tests import issued_test_key
from tests.unit.backend import sample_images

ABUSER_THREADS = 16
VICTIM_UPLOADS = 6
# The gateway's defaults (localrun and the gateway image alike).
PER_KEY = 2
PER_ADDRESS = 8
# What the second client's upload may take at worst: one abuser run's processing budget
# (CANNY_MAX_PROCESSING_SECONDS) and some. Its typical latency is printed, not asserted.
VICTIM_BOUND_SECONDS = 15.0


@pytest.fixture
def fair_stack(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[LocalStack]:
    """The gateway's default in-flight limits; the rate limit lifted so that only the
    in-flight limits are under test."""
    require_tool("nginx")
    with LocalStack(tmp_path / "stack", upload_rate="1000r/s", upload_burst=1000) as stack:
        yield stack


def heavy_tiff() -> bytes:
    """An RGBA 16-bit TIFF of 3000x3000, deflated to a few hundred KB: seconds of
    decoding per upload, the shape of the probe's 6324x6324 one at a bounded cost."""
    image = np.zeros((3000, 3000, 4), np.uint16)
    image[::50] = 65535
    ok, encoded = cv2.imencode(".tiff", image, [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    assert ok
    return encoded.tobytes()


def post_from(
    pool: urllib3.HTTPConnectionPool, key: str, data: bytes, low: int
) -> tuple[int, float]:
    started = time.monotonic()
    response = pool.request(
        "POST",
        "/api/images",
        fields={"file": ("image.bin", data, "application/octet-stream"), "low": str(low)},
        headers={"Authorization": f"Bearer {key}"},
        timeout=urllib3.Timeout(total=120),
        retries=False,
    )
    return response.status, time.monotonic() - started


def client_pool(stack: LocalStack, address: str, connections: int) -> urllib3.HTTPConnectionPool:
    return urllib3.HTTPConnectionPool(
        "127.0.0.1", stack.port, maxsize=connections, source_address=(address, 0)
    )


class Abuser:
    """16 threads sending heavy uploads back to back with one key from one address."""

    def __init__(self, stack: LocalStack, data: bytes) -> None:
        self.pool = client_pool(stack, "127.0.0.1", ABUSER_THREADS)
        self.key = issued_test_key()
        self.data = data
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(n,)) for n in range(ABUSER_THREADS)
        ]

    def _loop(self, n: int) -> None:
        round_ = 0
        while not self._stop.is_set():
            # New params every time: each upload is a new result, never a cache hit.
            status, _ = post_from(self.pool, self.key, self.data, (n * 12 + round_) % 200)
            self.statuses.append(status)
            round_ += 1
            if status == 429:
                self._stop.wait(0.05)

    def __enter__(self) -> "Abuser":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=150)


def test_an_abusive_client_cannot_hold_a_second_clients_upload(fair_stack: LocalStack) -> None:
    victim = client_pool(fair_stack, "127.0.0.2", 1)
    victim_key = issued_test_key()
    latencies: list[float] = []
    victim_statuses: list[int] = []
    with (
        BackendMemory(fair_stack) as memory,
        Abuser(fair_stack, heavy_tiff()) as abuser,
        ReadProbe(fair_stack) as reads,
    ):
        time.sleep(3)  # the abuser's uploads are running
        for n in range(VICTIM_UPLOADS):
            png = sample_images.encode(sample_images.shapes(640, 480, seed=n), "png")
            status, seconds = post_from(victim, victim_key, png, 100)
            victim_statuses.append(status)
            latencies.append(seconds)
            time.sleep(0.5)
    print(
        f"\nabuser ({ABUSER_THREADS} threads): {len(abuser.statuses)} answers,"
        f" {sorted(set(abuser.statuses))}, 201 x{abuser.statuses.count(201)},"
        f" 429 x{abuser.statuses.count(429)}, 503 x{abuser.statuses.count(503)};"
        f" second client's 640x480 PNG: p50 {statistics.median(latencies):.2f} s,"
        f" max {max(latencies):.2f} s over {len(latencies)};"
        f" reads max {max(reads.latencies) * 1000:.0f} ms;"
        f" backends' peak PSS {memory.peak_mb:.0f} MB"
    )
    assert victim_statuses == [201] * VICTIM_UPLOADS, victim_statuses
    assert max(latencies) < VICTIM_BOUND_SECONDS, latencies
    assert set(abuser.statuses) <= {201, 422, 429, 503}, sorted(set(abuser.statuses))
    assert abuser.statuses.count(429) > 0, "the in-flight limit never refused the abuser"
    assert not reads.failures, reads.failures


def open_trickle(stack: LocalStack, address: str, key: str | None) -> socket.socket:
    """An upload whose headers are sent and whose body never comes: a trickler's slot."""
    connection = socket.create_connection(("127.0.0.1", stack.port), source_address=(address, 0))
    authorization = f"Authorization: Bearer {key}\r\n" if key else ""
    connection.sendall(
        (
            "POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"{authorization}Content-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 1000000\r\n\r\n--b\r\n"
        ).encode()
    )
    return connection


def upload_status(stack: LocalStack, address: str, key: str | None) -> tuple[int, str | None]:
    pool = client_pool(stack, address, 1)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    png = sample_images.encode(sample_images.shapes(64, 48), "png")
    response = pool.request(
        "POST",
        "/api/images",
        fields={"file": ("a.png", png, "image/png")},
        headers=headers,
        timeout=urllib3.Timeout(total=30),
        retries=False,
    )
    return response.status, response.headers.get("Retry-After")


def test_trickled_bodies_hold_only_their_own_slots(fair_stack: LocalStack) -> None:
    """The probe's 1 byte per 2 s body was never cut and nothing bounded how many."""
    key = issued_test_key()
    held = [open_trickle(fair_stack, "127.0.0.3", key) for _ in range(PER_KEY)]
    try:
        time.sleep(0.5)  # nginx has read their headers: they count
        assert upload_status(fair_stack, "127.0.0.4", key) == (429, "1"), "same key"
        assert upload_status(fair_stack, "127.0.0.3", None)[0] == 201, "same address, no key"
        held += [open_trickle(fair_stack, "127.0.0.3", None) for _ in range(PER_ADDRESS)]
        time.sleep(0.5)
        assert upload_status(fair_stack, "127.0.0.3", None) == (429, "1"), "same address"
        assert upload_status(fair_stack, "127.0.0.5", None)[0] == 201, "anyone else"
    finally:
        for connection in held:
            connection.close()
