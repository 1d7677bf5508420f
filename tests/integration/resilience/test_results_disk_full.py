"""The results disk full: uploads get a clean JSON 507 (or 503), leave no partial file,
and succeed again once space returns. The disk is a tiny tmpfs mounted by the test."""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from bench.reference import edge_png
from localrun import LocalStack
from tests.conftest import missing_tool, pick_free_port
from tests.integration.resilience.load_client import CLIENT_TIMEOUT_SECONDS, upload

DISK_BYTES = 4 * 1024 * 1024
PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path, require_tool: Callable[[str], str]) -> Iterator[Path]:
    mount = require_tool("mount")
    mount_point = tmp_path / "results"
    mount_point.mkdir()
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        missing_tool(f"cannot mount a tmpfs (needs root): {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run([require_tool("umount"), "--lazy", str(mount_point)], check=True)


@pytest.fixture
def stack_on_small_disk(tmp_path: Path, small_disk: Path) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path / "stack",
        pick_free_port(),
        results_dir=small_disk,
        upload_rate="1000r/s",
        upload_burst=1000,
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
def noisy_png() -> bytes:
    """~350 KB: random 4x4 black and white blocks under noise. Neither the upload nor its
    edge map (~20 KB) compresses much, so each needs its own room on the disk."""
    rng = np.random.default_rng(8)
    blocks = (rng.integers(0, 2, size=(100, 120)) * 255).astype(np.uint8)
    grey = cv2.resize(blocks, (480, 400), interpolation=cv2.INTER_NEAREST)
    noise = rng.integers(-20, 20, size=(400, 480, 3))
    pixels = np.clip(cv2.merge([grey, grey, grey]).astype(int) + noise, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok, "OpenCV could not encode the test image"
    return encoded.tobytes()


def fill_leaving(disk: Path, room: int) -> Path:
    """Fill the disk with one file so that about `room` bytes stay free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler.bin"
    filler.write_bytes(b"\0" * (free - room))
    return filler


def stray_files(disk: Path) -> list[str]:
    """Anything but the filler and complete results (each id: .json, .png, .orig.png)."""
    names = {path.name for path in disk.iterdir()} - {"filler.bin"}
    ids = {name.removesuffix(".json") for name in names if name.endswith(".json")}
    complete = {f"{i}{suffix}" for i in ids for suffix in (".json", ".png", ".orig.png")}
    return sorted(names - complete)


@pytest.mark.parametrize(
    "room",
    ["half the upload", "the upload but not its edge map"],
)
def test_full_results_disk_gives_clean_error_then_recovers(
    stack_on_small_disk: LocalStack, small_disk: Path, noisy_png: bytes, room: str
) -> None:
    edges = len(edge_png(noisy_png))
    assert edges > 2 * PAGE, (
        "the edge map must need more room than the test leaves after the upload"
    )
    free = len(noisy_png) // 2 if room == "half the upload" else len(noisy_png) + PAGE
    filler = fill_leaving(small_disk, free)

    refused = upload(stack_on_small_disk, noisy_png)
    assert refused.status_code in (503, 507), f"{refused.status_code}: {refused.text[:300]}"
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["error"]["code"] in ("insufficient_storage", "not_ready", "unavailable")
    assert stray_files(small_disk) == [], "a failed upload left files behind"
    listed = requests.get(f"{stack_on_small_disk.url}/api/images", timeout=CLIENT_TIMEOUT_SECONDS)
    assert listed.json()["items"] == [], "a failed upload is listed"

    filler.unlink()
    stored = upload(stack_on_small_disk, noisy_png)
    assert stored.status_code == 201, f"no recovery once space returned: {stored.text[:300]}"
    assert stored.json()["cached"] is False
    result = requests.get(
        stack_on_small_disk.url + stored.json()["edges_url"], timeout=CLIENT_TIMEOUT_SECONDS
    )
    assert result.status_code == 200 and len(result.content) == edges
