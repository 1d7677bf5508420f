"""Two "droplets" (LocalStacks) behind a TLS load balancer (a third nginx): under a bounded
upload load, one droplet's gateway is SIGKILLed, then both droplets are restarted in turn
as a rolling deploy does. No upload fails, and every upload is listed afterwards by the
droplet that answered it (the droplets do not share results storage).

Figures (uploads sent, failed, retried by the balancer, rolling-restart time) are printed;
they are not asserted beyond "0 failed".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import requests

from infra.rehearse.balancer import DROPLET_HEADER, LoadBalancer
from localrun import LocalStack
from tests.conftest import UNTHROTTLED, pick_free_port
from tests.integration.resilience.load_client import OWNER, BackgroundUploads

UPLOAD_LIMIT = 3000
BACK_IN_ROTATION_TIMEOUT_S = 30.0

pytestmark = pytest.mark.timeout(600)


def answered_by(headers: Mapping[str, str]) -> str:
    """The droplet that answered an upload: the balancer's last upstream address."""
    return headers[DROPLET_HEADER].split(", ")[-1]


def served_by(load: BackgroundUploads, droplet: str) -> int:
    return sum(answered_by(headers) == droplet for headers in load.stored_headers())


@pytest.fixture
def fleet(
    tmp_path: Path, require_tool: Callable[[str], str], no_owner_quota: None
) -> Iterator[tuple[list[LocalStack], LoadBalancer]]:
    require_tool("nginx")
    droplets = [
        LocalStack(
            tmp_path / f"droplet-{n}",
            pick_free_port(),
            **UNTHROTTLED,
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


def wait_until_serving(load: BackgroundUploads, droplet: str) -> None:
    """Bounded: the balancer sends uploads to the droplet again (its fail_timeout passed)."""
    before = served_by(load, droplet)
    deadline = time.monotonic() + BACK_IN_ROTATION_TIMEOUT_S
    while served_by(load, droplet) < before + 5:
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
    uploads = BackgroundUploads(
        lb, limit=UPLOAD_LIMIT, pause_seconds=0.02, verify=str(lb.certificate)
    )
    with uploads as load:
        load.wait_for(40)
        assert all(served_by(load, address) for address in addresses), "one droplet idle"

        droplets[0].kill_gateway()
        load.wait_for(40)  # droplet 2 carries everything meanwhile

        rolling_started = time.monotonic()
        for droplet, address in zip(droplets, addresses, strict=True):
            restart(droplet)
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
        answered_here = {
            upload for upload, headers in load.stored.items() if answered_by(headers) == address
        }
        missing = answered_here - listed_ids(droplet)
        assert not missing, f"{address} answered {len(missing)} uploads it does not list"
