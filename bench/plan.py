"""How much the bench measures: the full run (docs/performance.md), and a quick one (< 1 min)."""

from __future__ import annotations

from dataclasses import dataclass

SampleKey = tuple[str, str]  # (size, image format)

MAIN_SAMPLE: SampleKey = ("1080p", "jpeg")
RSS_SAMPLE: SampleKey = ("4K", "jpeg")
CONCURRENCIES = (1, 2, 4, 8)
# Concurrency for every sample but the main one, and the one the latency target is read at.
FIXED_CONCURRENCY = 4


@dataclass(frozen=True)
class Plan:
    rounds: int
    samples: tuple[SampleKey, ...]
    # Uploads per service run and images per reference process, by size.
    service_requests: dict[str, int]
    reference_images: dict[str, int]
    cached_requests: int
    warmup_requests: int
    rss_uploads: int
    rss_chunk: int
    # New uploads per store in bench.storage_latency (the bucket path with a round trip).
    bucket_uploads: int


FULL = Plan(
    rounds=3,
    samples=(
        ("480p", "jpeg"),
        ("480p", "png"),
        ("1080p", "jpeg"),
        ("1080p", "png"),
        ("4K", "jpeg"),
        ("4K", "png"),
    ),
    service_requests={"480p": 300, "1080p": 120, "4K": 24},
    reference_images={"480p": 200, "1080p": 60, "4K": 12},
    cached_requests=300,
    warmup_requests=8,
    rss_uploads=500,
    rss_chunk=50,
    bucket_uploads=50,
)

# The sizes with a CPU target of their own (issue 31, item 6) are in every plan.
SIZE_SAMPLES: tuple[SampleKey, ...] = (("480p", "jpeg"), ("4K", "jpeg"))

QUICK = Plan(
    rounds=1,
    samples=(SIZE_SAMPLES[0], MAIN_SAMPLE, SIZE_SAMPLES[1]),
    service_requests={"480p": 60, "1080p": 40, "4K": 8},
    reference_images={"480p": 40, "1080p": 20, "4K": 4},
    cached_requests=100,
    warmup_requests=4,
    rss_uploads=60,
    rss_chunk=20,
    bucket_uploads=10,
)
