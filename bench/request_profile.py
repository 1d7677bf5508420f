"""`python -m bench.request_profile`: where a backend worker's and its pipeline child's CPU
goes per request, step by step (docs/performance-levers.md).

The app is built as gunicorn's worker builds it (`canny.create_app`, its pipeline child
started) and driven through Flask's WSGI entry with the bench's own request bodies: a
lookup of a stored result, and new uploads of the 480p and 1080p JPEGs (each body unique,
as the load client makes them). The worker's steps come from cProfile with a CPU clock
(`time.process_time`, all of the process's threads); the child's CPU from /proc, split by
profiling the same pipeline (`canny.pipeline.run`) in this process. gunicorn's HTTP
parsing and nginx are not in these figures: the bench's CPU per request has them.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import logging
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canny import create_app, pipeline
from canny.edge_params import EdgeParams
from canny.extensions import pipeline_runner
from canny.settings import Settings
from flask import Flask
from flask.testing import FlaskClient

from bench import images, proc_stats
from bench.multipart import envelope

# (where the function is defined, its name) for each step, as cProfile names them; the
# steps of one table do not nest, so their sum is what the rest is measured against.
Step = tuple[str, str, str]
WORKER_STEPS: tuple[Step, ...] = (
    ("owner key (HMAC check, digest)", "canny/owner_keys.py", "owner_of"),
    ("origin check", "canny/request_origin.py", "check_same_origin"),
    ("multipart parsing", "canny/upload_form.py", "parse_upload"),
    ("edge params", "canny/edge_params.py", "parse_params"),
    ("SHA-256 of the upload", "~", "<built-in method _hashlib.openssl_sha256>"),
    ("stored result lookup (metadata read)", "canny/storage/file_store.py", "load"),
    ("owner quota check", "canny/images_api.py", "_check_quota"),
    ("header and scan check", "canny/image_format.py", "read_header"),
    ("hand-over to the child and wait (worker side)", "canny/pipeline_runner.py", "run"),
    ("save (files written, fsynced, renamed)", "canny/storage/file_store.py", "save"),
    ("JSON answer (jsonify)", "flask/json/__init__.py", "jsonify"),
    ("owner cookie and Cache-Control", "canny/images_api.py", "_hand_over_key"),
    ("request log line", "canny/request_log.py", "_finish_request"),
    ("request metrics", "canny/request_metrics.py", "_count"),
)
WHOLE_REQUEST = ("flask/app.py", "wsgi_app")
CHILD_STEPS: tuple[Step, ...] = (
    ("decode (imdecode, stderr captured)", "canny/pipeline.py", "decode"),
    ("grey, blur, Canny", "canny/pipeline.py", "edges_of_gray"),
    ("PNG encode", "canny/pipeline.py", "encode_png"),
)
WHOLE_PIPELINE = ("canny/pipeline.py", "run")
UNPROFILED_BATCHES = 5
WORKER_REST = "the rest (Flask dispatch, werkzeug, g, hooks)"
CHILD_REST = "the rest (stage timing, result)"


@dataclass(frozen=True)
class Profile:
    """Milliseconds of CPU per request: unprofiled, and each step's share under cProfile."""

    unprofiled_ms: float
    profiled_ms: float
    steps: dict[str, float]


def _cumulative_ms(stats: pstats.Stats, where: str, name: str, count: int) -> float:
    entries = stats.stats  # type: ignore[attr-defined]  # pstats' documented table
    seconds = sum(
        entry[3]
        for (filename, _, function), entry in entries.items()
        if function == name and filename.endswith(where)
    )
    return seconds * 1000 / count


def profile(
    requests: Callable[[], object], count: int, steps: tuple[Step, ...], whole: tuple[str, str]
) -> Profile:
    """`requests()` `count` times unprofiled, then `count` times under cProfile. The
    unprofiled figure is the best of UNPROFILED_BATCHES batches: on a shared machine a
    batch's CPU time only grows with the load (cache misses, migrations), never shrinks."""
    batch = max(1, count // UNPROFILED_BATCHES)
    unprofiled = min(_cpu_ms_per_call(requests, batch) for _ in range(UNPROFILED_BATCHES))
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(count):
        requests()
    profiler.disable()
    stats = pstats.Stats(profiler)
    measured = {label: _cumulative_ms(stats, where, name, count) for label, where, name in steps}
    return Profile(unprofiled, _cumulative_ms(stats, *whole, count), measured)


def _cpu_ms_per_call(call: Callable[[], object], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) * 1000 / count


class _Worker:
    """The app on a private results folder, one owner, and the bench's request bodies."""

    def __init__(self, results_dir: Path, without_quotas: bool) -> None:
        quotas = {"owner_max_results": 0, "owner_max_bytes": 0} if without_quotas else {}
        settings = Settings(
            results_dir=results_dir, owner_key_secrets=secrets.token_urlsafe(32), **quotas
        )
        self.app: Flask = create_app(settings)
        # The access log's lines are written as the service writes them, to nowhere; the
        # streams come back on close().
        self._nowhere = open(os.devnull, "w")  # noqa: SIM115  # closed by close()
        self._streams = {
            handler: handler.setStream(self._nowhere)
            for handler in logging.getLogger("canny").handlers
            if isinstance(handler, logging.StreamHandler)
        }
        pipeline_runner(self.app).start()
        self.client: FlaskClient = self.app.test_client()
        self._sent = 0
        self.headers: dict[str, str] = {}
        first = self.upload(images.sample("480p", "jpeg"))
        self.headers = {"Authorization": f"Bearer {first['owner_key']}"}
        self.lookup_query = {"sha256": hashlib.sha256(first["data"]).hexdigest()}

    def upload(self, sample: images.Sample) -> dict[str, Any]:
        """A new upload of `sample`: its bytes and a counter after them, as bench/upload.lua."""
        self._sent += 1
        data = sample.data + f"bench-{self._sent:08d}".encode()
        form = envelope(sample.filename, sample.content_type)
        response = self.client.post(
            "/api/images",
            data=form.body(data),
            content_type=form.content_type,
            headers=self.headers,
        )
        if response.status_code != 201:
            raise RuntimeError(f"upload answered {response.status_code}: {response.get_data()!r}")
        return {**response.get_json(), "data": data}

    def lookup(self) -> None:
        response = self.client.get(
            "/api/images/lookup", query_string=self.lookup_query, headers=self.headers
        )
        if response.status_code != 200:
            raise RuntimeError(f"lookup answered {response.status_code}")

    def child_cpu_seconds(self) -> float:
        children = [proc_stats.read_stat(pid) for pid in pipeline_runner(self.app).child_pids()]
        return proc_stats.cpu_seconds(stat for stat in children if stat is not None)

    def close(self) -> None:
        pipeline_runner(self.app).close()
        for handler, stream in self._streams.items():
            handler.setStream(stream)
        self._nowhere.close()


def _print_table(title: str, result: Profile, rest_label: str) -> None:
    print(f"\n{title}: {result.unprofiled_ms:.3f} ms unprofiled, {result.profiled_ms:.3f} profiled")
    for label, ms in result.steps.items():
        print(f"  {label:<48} {ms:7.3f} ms")
    rest = result.profiled_ms - sum(result.steps.values())
    print(f"  {rest_label:<48} {rest:7.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_profile", description=__doc__)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=100, help="per size")
    parser.add_argument(
        "--without-quotas",
        action="store_true",
        help="CANNY_OWNER_MAX_RESULTS=0 and CANNY_OWNER_MAX_BYTES=0: no per-owner checks",
    )
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="canny-profile-") as folder:
        worker = _worker_or_exit(Path(folder), args.without_quotas)
        try:
            lookups = profile(worker.lookup, args.lookups, WORKER_STEPS, WHOLE_REQUEST)
            _print_table("lookup (worker)", lookups, WORKER_REST)
            for size in ("480p", "1080p"):
                _profile_uploads(worker, images.sample(size, "jpeg"), args.uploads)
        finally:
            worker.close()
    return 0


def _profile_uploads(worker: _Worker, sample: images.Sample, count: int) -> None:
    """The worker's steps of new uploads of `sample`, and the child's CPU for them."""
    before = worker.child_cpu_seconds()
    uploads = profile(lambda: worker.upload(sample), count, WORKER_STEPS, WHOLE_REQUEST)
    # profile() sends about `count` uploads twice; the child is never profiled.
    sent = count + UNPROFILED_BATCHES * max(1, count // UNPROFILED_BATCHES)
    child_ms = (worker.child_cpu_seconds() - before) * 1000 / sent
    _print_table(f"{sample.label} upload (worker)", uploads, WORKER_REST)
    computed = profile(
        lambda: pipeline.run(sample.data, EdgeParams()), count, CHILD_STEPS, WHOLE_PIPELINE
    )
    _print_table(
        f"{sample.label} in the child: {child_ms:.3f} ms of its CPU per upload; the same"
        " pipeline in this process",
        computed,
        CHILD_REST,
    )


def _worker_or_exit(folder: Path, without_quotas: bool) -> _Worker:
    try:
        return _Worker(folder / "results", without_quotas)
    except RuntimeError as error:
        raise SystemExit(f"request_profile: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
