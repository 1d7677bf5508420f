"""The object store goes away under load and comes back: 503s that say so, then service."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import requests

from infra.rehearse.s3_emulator import MotoServer
from localrun.readiness import free_port
from tests.integration.resilience.load_client import unique_png
from tests.owner_keys_for_tests import issued_test_key

OWNER = {"Authorization": f"Bearer {issued_test_key()}"}
TIMEOUT = 30
OUTAGE_UPLOADS = 16
RECOVERY_SECONDS = 60


def upload(url: str, index: int) -> requests.Response:
    return requests.post(
        f"{url}/api/images",
        files={"file": ("i.png", unique_png(index))},
        headers=OWNER,
        timeout=TIMEOUT,
    )


def until_ok(call: Callable[[], requests.Response], status: int) -> requests.Response:
    """Repeat a request, bounded in time, until it answers `status`: the gateway may still
    hold a backend out for its fail_timeout after the store came back."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    answer = call()
    while answer.status_code != status and time.monotonic() < deadline:
        time.sleep(0.5)
        answer = call()
    assert answer.status_code == status, answer.text
    return answer


def test_uploads_fail_with_storage_unavailable_and_recover_when_the_store_returns(
    tmp_path: Path, require_tool, s3_stack_factory
) -> None:
    server = MotoServer(require_tool("moto_server"), free_port(), tmp_path / "moto.log")
    server.start()
    try:
        bucket = server.new_bucket()
        stack = s3_stack_factory("droplet", server, bucket)
        assert upload(stack.url, 0).status_code == 201

        server.stop()
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda i: upload(stack.url, i), range(1, 1 + OUTAGE_UPLOADS)))
        assert {answer.status_code for answer in answers} == {503}
        # Through the gateway: the backends' own 503 storage_unavailable, or the gateway's
        # 503 unavailable once it has counted both backends' 503s as failures (max_fails)
        # and holds them out for fail_timeout.
        codes = {answer.json()["error"]["code"] for answer in answers}
        assert "storage_unavailable" in codes and codes <= {"storage_unavailable", "unavailable"}
        direct = upload(f"http://{stack.backends[0].address}", 999)
        assert (direct.status_code, direct.json()["error"]["code"]) == (503, "storage_unavailable")
        for backend in stack.backends:
            assert (
                requests.get(f"http://{backend.address}/readyz", timeout=TIMEOUT).status_code == 503
            )

        # moto keeps buckets in memory: the restarted server has to be given the bucket again.
        server.start()
        server.client().create_bucket(Bucket=bucket)
        recovered = until_ok(lambda: upload(stack.url, 1000), 201)
        listing = partial(requests.get, f"{stack.url}/api/images", headers=OWNER, timeout=TIMEOUT)
        listed = until_ok(listing, 200).json()
        assert [item["id"] for item in listed["items"]] == [recovered.json()["id"]], (
            "an upload refused during the outage is listed"
        )
        for backend in stack.backends:
            assert (
                requests.get(f"http://{backend.address}/readyz", timeout=TIMEOUT).status_code == 200
            )
    finally:
        server.stop()


pytestmark = pytest.mark.timeout(240)
