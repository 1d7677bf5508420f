"""The run folder's disk full (results, logs and state of a local run on one tiny tmpfs
mounted by the test): uploads of any size get a clean JSON 507 and leave nothing behind,
every read keeps working, /readyz says writes fail, no worker dies, and uploads succeed
again once space returns."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from bench.reference import edge_png
from localrun import LocalStack
from localrun.readiness import status_of
from tests.conftest import UNTHROTTLED, pick_free_port
from tests.integration.gateway.local_run_process import process_tree
from tests.integration.resilience.load_client import (
    CLIENT_TIMEOUT_SECONDS,
    OWNER,
    unique_png,
    upload,
)

DISK_BYTES = 8 * 1024 * 1024
PAGE = 4096


@pytest.fixture
def small_disk(tmpfs: Callable[[str, str], Path]) -> Path:
    return tmpfs("run", f"size={DISK_BYTES},mode=0755")


@pytest.fixture
def stack_on_small_disk(small_disk: Path) -> Iterator[LocalStack]:
    """The whole run folder on the small disk, as `./run --run-dir` on a full disk has it.
    The upload limit fits the disk twice (2 MiB), else the backends would never be ready."""
    stack = LocalStack(
        small_disk,
        pick_free_port(),
        max_upload_bytes=2 * 1024 * 1024,
        **UNTHROTTLED,
    )
    with stack:
        yield stack


def noise_png(width: int, height: int, seed: int) -> bytes:
    """Random 4x4 black and white blocks under noise: neither the PNG nor its edge map
    compresses much, so each needs its own room on the disk."""
    rng = np.random.default_rng(seed)
    blocks = (rng.integers(0, 2, size=(height // 4, width // 4)) * 255).astype(np.uint8)
    grey = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
    noise = rng.integers(-20, 20, size=(height, width, 3))
    pixels = np.clip(cv2.merge([grey, grey, grey]).astype(int) + noise, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok, "OpenCV could not encode the test image"
    return encoded.tobytes()


@pytest.fixture(scope="module")
def noisy_png() -> bytes:
    """~350 KB."""
    return noise_png(480, 400, seed=8)


@pytest.fixture(scope="module")
def large_png() -> bytes:
    """Over 1 MiB: more than nginx keeps in memory (client_body_buffer_size), so nginx
    spools it to a temp file, which must not be on the full disk."""
    data = noise_png(960, 800, seed=9)
    assert len(data) > 1024 * 1024
    return data


def fill_leaving(disk: Path, room: int) -> Path:
    """Fill the disk with one file so that about `room` bytes stay free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler.bin"
    filler.write_bytes(b"\0" * max(free - room, 0))
    return filler


def stored_files(results: Path) -> set[str]:
    """Every file under the results folder, whatever its layout, temp files included."""
    return {str(path.relative_to(results)) for path in results.rglob("*") if path.is_file()}


def backend_processes(stack: LocalStack) -> set[int]:
    """Every backend master and worker now running."""
    pids = set()
    for backend in stack.backends:
        assert backend.pid is not None, f"{backend.name} is not running"
        pids |= {backend.pid} | process_tree(backend.pid)
    return pids


def assert_507_json(answer: requests.Response) -> None:
    assert answer.status_code == 507, f"{answer.status_code}: {answer.text[:300]}"
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"]["code"] == "insufficient_storage", answer.text


@pytest.mark.parametrize(
    "room",
    ["half the upload", "the upload but not its edge map"],
)
def test_full_results_disk_gives_clean_error_then_recovers(
    stack_on_small_disk: LocalStack, noisy_png: bytes, room: str
) -> None:
    stack = stack_on_small_disk
    edges = len(edge_png(noisy_png))
    assert edges > 2 * PAGE, (
        "the edge map must need more room than the test leaves after the upload"
    )
    free = len(noisy_png) // 2 if room == "half the upload" else len(noisy_png) + PAGE
    filler = fill_leaving(stack.run_dir, free)
    before = stored_files(stack.results_dir)

    assert_507_json(upload(stack, noisy_png))
    assert stored_files(stack.results_dir) == before, "a failed upload left files behind"
    listed = requests.get(f"{stack.url}/api/images", headers=OWNER, timeout=CLIENT_TIMEOUT_SECONDS)
    assert listed.json()["items"] == [], "a failed upload is listed"

    filler.unlink()
    stored = upload(stack, noisy_png)
    assert stored.status_code == 201, f"no recovery once space returned: {stored.text[:300]}"
    assert stored.json()["cached"] is False
    result = requests.get(stack.url + stored.json()["edges_url"], timeout=CLIENT_TIMEOUT_SECONDS)
    assert result.status_code == 200 and len(result.content) == edges


def test_a_full_disk_refuses_uploads_of_any_size_and_keeps_serving_reads(
    stack_on_small_disk: LocalStack, large_png: bytes
) -> None:
    stack = stack_on_small_disk
    stored = upload(stack, unique_png(1))
    assert stored.status_code == 201, stored.text
    kept = stored.json()
    workers = backend_processes(stack)
    filler = fill_leaving(stack.run_dir, 0)
    before = stored_files(stack.results_dir)

    for data in (unique_png(2), large_png, unique_png(3), large_png):
        assert_507_json(upload(stack, data))
    assert stored_files(stack.results_dir) == before, "a failed upload left files behind"

    reads = {
        "page": "/",
        "list": "/api/images",
        "get": f"/api/images/{kept['id']}",
        "edges": kept["edges_url"],
        "original": kept["original_url"],
    }
    for name, path in reads.items():
        answer = requests.get(stack.url + path, headers=OWNER, timeout=CLIENT_TIMEOUT_SECONDS)
        assert answer.status_code == 200, f"{name} ({path}): {answer.status_code}"
    listed = requests.get(f"{stack.url}/api/images", headers=OWNER, timeout=10).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"]]
    for backend in stack.backends:
        assert status_of(f"http://{backend.address}/readyz") == 503, "/readyz hides the full disk"
        assert status_of(f"http://{backend.address}/healthz") == 200
        assert status_of(f"http://{backend.address}/metrics") == 200
    # Every process that ran before is still there: none died or was replaced. New ones may
    # appear (a worker starts its pipeline child processes as it needs them).
    gone = workers - backend_processes(stack)
    assert not gone, f"backend processes died or were replaced: {sorted(gone)}"

    filler.unlink()
    for backend in stack.backends:
        assert status_of(f"http://{backend.address}/readyz") == 200
    for data in (unique_png(2), large_png):
        again = upload(stack, data)
        assert again.status_code == 201, f"no recovery once space returned: {again.text[:300]}"
