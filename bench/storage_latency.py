"""`python -m bench.storage_latency [--uploads N]`: upload latency on each result store.

Each upload is a new image through the backend app (Flask's test client: no gateway, no
HTTP), so the difference between the two figures is the store's: the file store on a
temp folder, and S3Store on moto served on 127.0.0.1 by gunicorn (bench.moto_app says why
not `moto_server`). moto is an in-memory emulator, not DigitalOcean Spaces: its figure
shows our request pattern's cost on loopback. A third run puts moto a round trip away
(bench.delay_proxy, in a process of its own) and reports how many round trips an upload
and a gallery page cost, against the targets in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from canny import create_app
from canny.settings import Settings
from canny.storage.contract import LIST_LIMIT_DEFAULT
from canny.storage.s3_store import S3Store
from flask.testing import FlaskClient

from bench.images import encode, scene
from bench.moto_app import REPOSITORY, start_emulator
from localrun import processes
from localrun.readiness import free_port, wait_until_ok

# The droplet-to-Spaces round trip the bucket path is measured with (DigitalOcean does not
# publish one; tens of milliseconds within a region is what the target assumes).
ROUND_TRIP_S = 0.03
MOTO = "S3 store on moto (an emulator, loopback; not Spaces)"
# The in-process app: its request logs at INFO would bury the bench's progress, and it
# signs owner keys with a secret of this run's own (canny.owner_keys).
IN_PROCESS = {"log_level": "WARNING", "owner_key_secrets": secrets.token_urlsafe(32)}
# moto accepts any credentials; boto3 only needs some to sign with.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def upload_milliseconds(settings: Settings, uploads: int) -> list[float]:
    client = create_app(settings).test_client()
    timings = []
    for seed in range(uploads):
        data = encode(scene(320, 240, seed=seed), "png")
        form = {"file": (io.BytesIO(data), "bench.png")}
        started = time.perf_counter()
        answer = client.post("/api/images", data=form, content_type="multipart/form-data")
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 201, answer.json
    return timings


def describe(name: str, timings: list[float], unit: str = "uploads") -> str:
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    return f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms ({len(ordered)} {unit})"


def page_milliseconds(settings: Settings, pages: int) -> tuple[list[float], list[float]]:
    """Times of the first listing page (20 results), the gallery's first request: shown by
    a backend for the first time, and shown again by the same one (S3Store keeps the
    entries it has read). Each first time is a new app, warmed by another owner's page as
    a running backend is (connections open, threads started), that has read none of the
    measured owner's entries nor signed its URLs."""
    shown, warming = (_owner_with_a_page(settings, seed) for seed in (0, LIST_LIMIT_DEFAULT))
    first, again = [], []
    for _ in range(pages):
        fresh = create_app(settings).test_client()
        _page_ms(fresh, warming)
        first.append(_page_ms(fresh, shown))
        again.append(_page_ms(fresh, shown))
    return first, again


def _owner_with_a_page(settings: Settings, first_seed: int) -> dict[str, str]:
    """A new owner with a page of results: the headers that act for it."""
    client = create_app(settings).test_client()
    owner_key = ""
    for seed in range(first_seed, first_seed + LIST_LIMIT_DEFAULT):
        form = {"file": (io.BytesIO(encode(scene(64, 48, seed=seed), "png")), "bench.png")}
        answer = client.post("/api/images", data=form, content_type="multipart/form-data")
        assert answer.status_code == 201, answer.json
        # Issued with the first upload (the client sends it back as the cookie after).
        owner_key = answer.json.get("owner_key", owner_key)
    return {"Authorization": f"Bearer {owner_key}"}


def _page_ms(client: FlaskClient, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = client.get("/api/images", headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200 and len(answer.json["items"]) == LIST_LIMIT_DEFAULT
    return elapsed


def verdicts(file_ms: list[float], s3_ms: list[float], page_ms: list[float]) -> dict:
    """The targets of docs/performance.md for the bucket path, from medians: an upload costs
    at most two round trips more than on the file store, a 20-result page at most three."""
    round_trip = ROUND_TRIP_S * 1000
    upload_trips = (statistics.median(s3_ms) - statistics.median(file_ms)) / round_trip
    page_trips = statistics.median(page_ms) / round_trip
    return {
        "round_trip_ms": round_trip,
        "upload_extra_round_trips": round(upload_trips, 2),
        "upload_target_met": upload_trips <= 2,
        "page_round_trips": round(page_trips, 2),
        "page_target_met": page_trips <= 3,
    }


@dataclass(frozen=True)
class BucketTimings:
    """Upload times (ms) on each store, and the 20-result page's on the distant bucket, shown
    for the first time (page_ms) and again (page_again_ms), and on the near one (the
    emulator's and the client's work, without any round trip)."""

    file_ms: list[float]
    moto_ms: list[float]
    distant_ms: list[float]
    page_ms: list[float]
    near_page_ms: list[float] = field(default_factory=list)
    page_again_ms: list[float] = field(default_factory=list)


def start_delay_proxy(upstream_port: int, port: int, work: Path) -> subprocess.Popen:
    """bench.delay_proxy in a process of its own (its docstring says why), answering once
    this returns."""
    log_path = work / "delay_proxy.log"
    arguments = (str(upstream_port), str(ROUND_TRIP_S), str(port))
    proxy = processes.spawn(
        [sys.executable, "-m", "bench.delay_proxy", *arguments],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPOSITORY)},
        log_path=log_path,
        cwd=work,
    )
    wait_until_ok("delay proxy", proxy, f"http://127.0.0.1:{port}/moto-api/", log_path, 30)
    return proxy


def measure(uploads: int, work: Path) -> BucketTimings:
    """Uploads on the file store, on moto, and on moto a round trip away; then pages."""
    os.environ.update(EMULATOR_CREDENTIALS)
    file_ms = upload_milliseconds(Settings(results_dir=work / "r", **IN_PROCESS), uploads)
    port = free_port()
    server = start_emulator(port, work)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = S3Store.connect("bench", endpoint, "us-east-1").client
        for bucket in ("bench", "bench-distant"):
            client.create_bucket(Bucket=bucket)
        settings = Settings(storage="s3", s3_bucket="bench", s3_endpoint_url=endpoint, **IN_PROCESS)
        moto_ms = upload_milliseconds(settings, uploads)
        near_page_ms, _ = page_milliseconds(settings, pages=10)
        proxy_port = free_port()
        proxy = start_delay_proxy(port, proxy_port, work)
        try:
            distant = Settings(
                storage="s3",
                s3_bucket="bench-distant",
                s3_endpoint_url=f"http://127.0.0.1:{proxy_port}",
                **IN_PROCESS,
            )
            distant_ms = upload_milliseconds(distant, uploads)
            page_ms, page_again_ms = page_milliseconds(distant, pages=10)
        finally:
            processes.stop(proxy)
    finally:
        processes.stop(server)
    return BucketTimings(file_ms, moto_ms, distant_ms, page_ms, near_page_ms, page_again_ms)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_latency", description=__doc__)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        timings = measure(args.uploads, Path(folder))
    print(describe("file store", timings.file_ms))
    print(describe(MOTO, timings.moto_ms))
    print(describe(f"{MOTO} + {ROUND_TRIP_S * 1000:.0f} ms round trip", timings.distant_ms))
    figures = verdicts(timings.file_ms, timings.distant_ms, timings.page_ms)
    print(
        f"bucket {figures['round_trip_ms']:.0f} ms away: an upload costs "
        f"{figures['upload_extra_round_trips']} round trips more than on the file store "
        f"(target <= 2: {'met' if figures['upload_target_met'] else 'NOT met'}), a 20-result "
        f"page {figures['page_round_trips']} round trips "
        f"(target <= 3: {'met' if figures['page_target_met'] else 'NOT met'})"
    )
    print(describe(f"20-result page on {MOTO}", timings.near_page_ms, "pages"))
    distant_page = f"20-result page on {MOTO} + {ROUND_TRIP_S * 1000:.0f} ms round trip"
    print(describe(f"{distant_page}, first shown", timings.page_ms, "pages"))
    print(describe(f"{distant_page}, shown again", timings.page_again_ms, "pages"))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
