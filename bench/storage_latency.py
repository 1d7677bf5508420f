"""`python -m bench.storage_latency [--uploads N]`: upload latency on each result store.

Each upload is a new image through the backend app (Flask's test client: no gateway, no
HTTP), so the difference between the two figures is the store's: the file store on a
temp folder, and S3Store on a `moto_server` started on 127.0.0.1. moto is an in-memory
emulator, not DigitalOcean Spaces: its figure shows our request pattern's cost on
loopback, not a Spaces round trip (add the droplet-to-Spaces latency per request).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from canny import create_app
from canny.settings import Settings
from canny.storage.s3_store import S3Store

from bench.images import encode, scene
from localrun import processes
from localrun.readiness import free_port, wait_until_ok

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


def describe(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    return f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms ({len(ordered)} uploads)"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_latency", description=__doc__)
    parser.add_argument("--uploads", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(EMULATOR_CREDENTIALS)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        print(
            describe(
                "file store", upload_milliseconds(Settings(results_dir=work / "r"), args.uploads)
            )
        )
        port = free_port()
        server = processes.spawn(
            [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
            env={"PATH": os.environ["PATH"]},
            log_path=work / "moto.log",
            cwd=work,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            wait_until_ok("moto_server", server, f"{endpoint}/moto-api/", work / "moto.log", 30)
            S3Store.connect("bench", endpoint, "us-east-1").client.create_bucket(Bucket="bench")
            settings = Settings(storage="s3", s3_bucket="bench", s3_endpoint_url=endpoint)
            timings = upload_milliseconds(settings, args.uploads)
            print(describe("S3 store on moto (an emulator, loopback; not Spaces)", timings))
        finally:
            processes.stop(server)


if __name__ == "__main__":
    main()
