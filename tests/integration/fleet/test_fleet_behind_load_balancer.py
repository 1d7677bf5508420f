"""Two "droplets" (LocalStacks) behind a TLS load balancer (a third nginx): under a bounded
upload load, one droplet's gateway is SIGKILLed, then both droplets are restarted in turn
as a rolling deploy does. No upload fails, and every upload is listed afterwards by the
droplet that answered it (the droplets do not share results storage).

Figures (uploads sent, failed, retried by the balancer, rolling-restart time) are printed;
they are not asserted beyond "0 failed".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from localrun import LocalStack
from tests.conftest import pick_free_port
from tests.integration.fleet.load_balancer import (
    DROPLET_HEADER,
    FAIL_TIMEOUT_S,
    LoadBalancer,
)
from tests.integration.resilience.load_client import CLIENT_TIMEOUT_SECONDS, OWNER, unique_png

UPLOAD_LIMIT = 3000
BACK_IN_ROTATION_TIMEOUT_S = 30.0

pytestmark = pytest.mark.timeout(600)


@dataclass
class FleetUploads:
    """Client threads uploading new images through the balancer until stopped, at most
    `limit` in all; each answer's id and droplet are kept."""

    lb: LoadBalancer
    threads: int = 4
    limit: int = UPLOAD_LIMIT
    pause_seconds: float = 0.02
    stored: dict[str, str] = field(default_factory=dict)  # upload id -> droplet address
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sent: int = 0

    def __enter__(self) -> FleetUploads:
        self._workers = [threading.Thread(target=self._work) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(CLIENT_TIMEOUT_SECONDS + 5)

    @property
    def sent(self) -> int:
        with self._lock:
            return self._sent

    @property
    def answered(self) -> int:
        with self._lock:
            return len(self.stored) + len(self.failures)

    def _take_index(self) -> int | None:
        with self._lock:
            if self._sent >= self.limit:
                return None
            self._sent += 1
            return self._sent

    def _work(self) -> None:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.lb.certificate)
        while not self._stop.is_set():
            index = self._take_index()
            if index is None:
                return
            try:
                answer = session.post(
                    f"{self.lb.url}/api/images",
                    files={"file": ("image.png", unique_png(500_000 + index), "image/png")},
                    headers=OWNER,
                    timeout=CLIENT_TIMEOUT_SECONDS,
                )
                with self._lock:
                    if answer.status_code == 201:
                        droplet = answer.headers[DROPLET_HEADER].split(", ")[-1]
                        self.stored[answer.json()["id"]] = droplet
                    else:
                        self.failures.append(f"{answer.status_code} {answer.text[:200]}")
            except requests.RequestException as error:
                with self._lock:
                    self.failures.append(repr(error))
            time.sleep(self.pause_seconds)

    def wait_for(self, more: int, timeout: float = 60.0) -> None:
        """Block until `more` further uploads have been answered."""
        target = self.answered + more
        deadline = time.monotonic() + timeout
        while self.answered < target:
            assert time.monotonic() < deadline, f"load stalled below {target} answers"
            assert self.sent < self.limit, "the bounded load ran out before the test finished"
            time.sleep(0.01)

    def served_by(self, droplet: str) -> int:
        with self._lock:
            return sum(address == droplet for address in self.stored.values())


@pytest.fixture
def fleet(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> Iterator[tuple[list[LocalStack], LoadBalancer]]:
    require_tool("nginx")
    droplets = [
        LocalStack(
            tmp_path / f"droplet-{n}",
            pick_free_port(),
            upload_rate="1000r/s",
            upload_burst=1000,
            trusted_proxies=["127.0.0.1"],
        )
        for n in (1, 2)
    ]
    try:
        for droplet in droplets:
            droplet.start()
        addresses = [f"127.0.0.1:{droplet.port}" for droplet in droplets]
        with LoadBalancer(tmp_path / "lb", addresses) as lb:
            yield droplets, lb
    finally:
        for droplet in droplets:
            droplet.stop()


def listed_ids(droplet: LocalStack) -> set[str]:
    """Every id the droplet lists, page by page (the API's largest page is 100)."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"before": cursor} if cursor else {})}
        page = requests.get(
            f"{droplet.url}/api/images", params=params, headers=OWNER, timeout=30
        ).json()
        ids.update(item["id"] for item in page["items"])
        cursor = page["next"]
        if not cursor:
            return ids


def wait_until_serving(load: FleetUploads, droplet: str) -> None:
    """Bounded: the balancer sends uploads to the droplet again (its fail_timeout passed)."""
    before = load.served_by(droplet)
    deadline = time.monotonic() + BACK_IN_ROTATION_TIMEOUT_S
    while load.served_by(droplet) < before + 5:
        assert time.monotonic() < deadline, f"{droplet} got no uploads after its restart"
        time.sleep(0.05)


def restart(droplet: LocalStack) -> None:
    """A deploy of one droplet: everything on it stops (backends finish their requests)
    and starts again on the same ports."""
    droplet.stop()
    droplet.start()


def test_https_entry_redirects_and_sends_hsts(
    fleet: tuple[list[LocalStack], LoadBalancer],
) -> None:
    _, lb = fleet
    redirect = requests.get(f"{lb.http_url}/api/images?limit=1", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"{lb.url}/api/images?limit=1"
    answer = requests.get(f"{lb.url}/", verify=str(lb.certificate), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_killed_gateway_and_a_rolling_restart_fail_no_upload(
    fleet: tuple[list[LocalStack], LoadBalancer],
) -> None:
    droplets, lb = fleet
    addresses = [f"127.0.0.1:{droplet.port}" for droplet in droplets]
    with FleetUploads(lb) as load:
        load.wait_for(40)
        assert all(load.served_by(address) for address in addresses), "one droplet idle"

        droplets[0].kill_gateway()
        load.wait_for(40)  # droplet 2 carries everything meanwhile

        rolling_started = time.monotonic()
        for droplet, address in zip(droplets, addresses, strict=True):
            restart(droplet)
            time.sleep(FAIL_TIMEOUT_S)
            wait_until_serving(load, address)
        rolling_seconds = time.monotonic() - rolling_started
        load.wait_for(20)

    retried = lb.retried_requests()
    print(
        f"\nfleet: {load.sent} uploads sent, {len(load.failures)} failed, {retried} retried "
        f"by the load balancer on the other droplet; rolling restart of 2 droplets took "
        f"{rolling_seconds:.1f}s"
    )
    assert not load.failures, f"{len(load.failures)} uploads failed: {load.failures[:5]}"
    for droplet, address in zip(droplets, addresses, strict=True):
        answered_here = {upload for upload, where in load.stored.items() if where == address}
        missing = answered_here - listed_ids(droplet)
        assert not missing, f"{address} answered {len(missing)} uploads it does not list"
