"""Prometheus metrics, shared by every gunicorn worker through multiprocess mode.

When PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py sets it), each worker writes its
samples to files there and /metrics aggregates them, so any worker answers for all.
"""

from __future__ import annotations

import functools
import os
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

Metric = TypeVar("Metric", bound=MetricWrapperBase)

REQUESTS = Counter(
    "canny_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "canny_http_request_duration_seconds", "Seconds spent answering a request", ["route", "method"]
)
STAGE_SECONDS = Histogram(
    "canny_pipeline_stage_seconds",
    "Seconds per edge pipeline stage (decode, canny = gray+blur+Canny, encode)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INPUT_BYTES = Histogram(
    "canny_input_bytes",
    "Size of accepted uploads in bytes",
    buckets=tuple(2**power for power in range(10, 26, 2)),
)
PIXELS_PROCESSED = Counter("canny_pixels_processed_total", "Pixels run through the edge pipeline")
IMAGES_PROCESSED = Counter("canny_images_processed_total", "Uploads computed (not from cache)")
CACHE_HITS = Counter("canny_cache_hits_total", "Uploads answered from an existing result")


@functools.lru_cache(maxsize=1024)
def labelled(metric: Metric, *values: str) -> Metric:
    """`metric.labels(*values)`, looked up once per label set and worker: `labels` checks
    and converts its arguments and takes the metric's lock on every call
    (prometheus_client/metrics.py, `MetricWrapperBase.labels`) and returns the same child
    each time, which is all the request path needs. The label sets are few (routes,
    methods, statuses, stages); the bound only keeps odd methods from growing it."""
    return metric.labels(*values)


def exposition() -> tuple[bytes, str]:
    """The text format of all metrics, aggregated over workers when running multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
