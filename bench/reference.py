"""The references: the edge pipeline (decode, grey, blur, Canny, PNG) called directly with
OpenCV, no HTTP.

The compute-only reference (the raw limit) stops at the PNG bytes. The store reference
also stores the three files of a result through the service's own
`canny.storage.FileStore.save`, so with the same durability: what is left between it
and the service is the service's own cost (HTTP, parsing, hashing, logging, metrics).
Both run in worker processes set up like the service's workers (one OpenCV thread, the
same malloc thresholds) and measure each worker's CPU with time.process_time().
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from canny import pipeline
from canny.edge_params import EdgeParams
from canny.image_format import detect_format
from canny.pipeline import PNG_ENCODE_FLAGS
from canny.storage import FileStore, created_now

DEFAULT_BLUR, DEFAULT_LOW, DEFAULT_HIGH = 5, 100, 200
# Workers begin together at a shared monotonic instant so the 2-process wall time is fair.
START_DELAY_SECONDS = 0.2


@dataclass(frozen=True)
class ReferenceRun:
    processes: int
    images: int
    wall_seconds: float
    cpu_seconds: float
    page_faults: int

    @property
    def images_per_second(self) -> float:
        return self.images / self.wall_seconds

    @property
    def cpu_per_image(self) -> float:
        return self.cpu_seconds / self.images

    @property
    def page_faults_per_image(self) -> float:
        return self.page_faults / self.images


class _Batch(NamedTuple):
    """What one worker measured over its share of a run."""

    started: float
    ended: float
    cpu_seconds: float
    page_faults: int


def edge_map(data: bytes) -> np.ndarray:
    """decode -> gray -> blur -> Canny."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(gray, (DEFAULT_BLUR, DEFAULT_BLUR), 0)
    return cv2.Canny(blurred, DEFAULT_LOW, DEFAULT_HIGH)


def encode_png(edges: np.ndarray) -> bytes:
    """PNG with the service's own encode flags."""
    ok, encoded = cv2.imencode(".png", edges, list(PNG_ENCODE_FLAGS))
    if not ok:
        raise RuntimeError("OpenCV could not encode the edge map")
    return encoded.tobytes()


def edge_png(data: bytes) -> bytes:
    return encode_png(edge_map(data))


# The owner digest the store reference saves for (the service indexes each result under
# its owner's); fixed, so every reference process, however started, uses the same one.
BENCH_OWNER = "b" * 64


def store_result(store: FileStore, data: bytes) -> str:
    """The pipeline, then the upload, edge map and metadata saved as the service saves
    them, for one owner. A new id each time: every image is a first upload, as in the
    service runs."""
    edges = edge_map(data)
    png = encode_png(edges)
    image_format = detect_format(data)
    image_id = uuid.uuid4().hex
    height, width = edges.shape
    metadata = {
        "id": image_id,
        "owner": BENCH_OWNER,
        "original_url": f"/results/{image_id}.orig.{image_format.extension}",
        "edges_url": f"/results/{image_id}.png",
        "width": width,
        "height": height,
        "params": EdgeParams(low=DEFAULT_LOW, high=DEFAULT_HIGH, blur=DEFAULT_BLUR).as_dict(),
        "format": image_format.name,
        "created_at": created_now(),
    }
    store.save(metadata, data, image_format.extension, png)
    return image_id


def _like_a_service_worker() -> None:
    """The service's pipeline-process tuning (canny.pipeline.tune_process): one OpenCV
    thread and the malloc thresholds of canny.allocator.

    Without fixed thresholds glibc adjusts its own to the largest buffer freed so far,
    so the raw figure depended on which images a worker had seen: after only 1080p
    images, each 1080p image page-faulted its buffers in again (figures:
    docs/performance-levers.md, Figures behind the code's design choices). Where mallopt
    is missing the service's workers lack it too, so the comparison stays like for like.
    """
    pipeline.tune_process(1)


def _timed_batch(data: bytes, count: int, start_at: float, store_in: Path | None) -> _Batch:
    """Times, CPU and minor page faults of `count` pipeline runs in this worker, each
    stored in `store_in` when it is given."""
    store = None if store_in is None else FileStore(store_in)
    time.sleep(max(0.0, start_at - time.monotonic()))
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu_before = time.process_time()
    started = time.monotonic()
    for _ in range(count):
        if store is None:
            edge_png(data)
        else:
            store_result(store, data)
    cpu = time.process_time() - cpu_before
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return _Batch(started, time.monotonic(), cpu, faults)


class ReferenceRunner:
    """A pool of 1-thread worker processes, started once and reused by every run."""

    def __init__(self, max_processes: int = 2) -> None:
        self.max_processes = max_processes
        self._pool = ProcessPoolExecutor(
            max_processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_like_a_service_worker,
        )

    def run(
        self, data: bytes, processes: int, images_per_process: int, store_in: Path | None = None
    ) -> ReferenceRun:
        """The compute-only reference, or the store reference when `store_in` (an existing
        folder, shared by the processes like the backends share the results volume) is given."""
        if not 1 <= processes <= self.max_processes:
            raise ValueError(f"processes must be 1..{self.max_processes}, got {processes}")
        start_at = time.monotonic() + START_DELAY_SECONDS
        futures = [
            self._pool.submit(_timed_batch, data, images_per_process, start_at, store_in)
            for _ in range(processes)
        ]
        batches = [future.result() for future in futures]
        wall = max(batch.ended for batch in batches) - min(batch.started for batch in batches)
        return ReferenceRun(
            processes=processes,
            images=processes * images_per_process,
            wall_seconds=wall,
            cpu_seconds=sum(batch.cpu_seconds for batch in batches),
            page_faults=sum(batch.page_faults for batch in batches),
        )

    def close(self) -> None:
        self._pool.shutdown()
