"""Figures and target verdicts from measurements (synthetic numbers, no servers)."""

import json

import pytest

from bench.images import Sample
from bench.load import LoadResult
from bench.machine import Machine
from bench.measure import DirectRun, Measurements, RssPoint, ServiceRun
from bench.plan import CONCURRENCIES, MAIN_SAMPLE, QUICK, SIZE_SAMPLES
from bench.reference import ReferenceRun
from bench.report import human_summary, summarise
from bench.storage_latency import ROUND_TRIP_S, BucketTimings

SMALL, LARGE = SIZE_SAMPLES

MACHINE = Machine(cores=2, cpu_model="test CPU", memory_gb=4.0, load_average=0.1)


def service_run(concurrency: int, rps: float, p50: float, p99: float, cpu: float) -> ServiceRun:
    load = LoadResult(concurrency, int(rps * 10), 10.0, 0, p50, p50 * 1.5, p99, p50, 0.1)
    return ServiceRun(load=load, images=100, server_cpu_seconds=cpu * 100)


def measurements(
    cpu_per_image: float,
    rss_growth_per_upload: float,
    *,
    peer_rps: float = 20.0,
    peer_cpu: float = 0.040,
    store_cpu: float = 0.020,
    p99_at_8: float = 100.0,
    lookup_p50: float = 1.0,
    small_cpu: float = 5.0,
    large_cpu: float = 110.0,
    upload_trips: float = 2.0,
    direct_idle: float = 0.04,
) -> Measurements:
    """The service at 38 req/s, p50 50 ms, p99 100 ms (p99_at_8 at c=8), on one round."""
    data = Measurements(
        samples={
            MAIN_SAMPLE: Sample("1080p", "jpeg", 1920, 1080, b""),
            SMALL: Sample("480p", "jpeg", 640, 480, b""),
            LARGE: Sample("4K", "jpeg", 3840, 2160, b""),
        }
    )
    # 480p: 5 ms against 4; 4K: 110 ms against 100 (small_cpu / large_cpu change them).
    for key, service_cpu, reference_cpu in ((SMALL, small_cpu, 4.0), (LARGE, large_cpu, 100.0)):
        data.reference[(key, 2)].append(ReferenceRun(2, 100, 2.5, reference_cpu / 10, 50))
        data.service[(key, 4)].append(service_run(4, 38.0, 50.0, 100.0, service_cpu / 1000))
    # The bucket path: 2 round trips over the file store per upload, 3 per page.
    trip = ROUND_TRIP_S * 1000
    # One backend driven directly on 2 cores for 2 s of wall time, idle `direct_idle` of it.
    direct_load = LoadResult(4, 76, 2.0, 0, 50.0, 75.0, 100.0, 50.0, 0.1)
    data.direct.append(DirectRun(direct_load, 4 * (1 - direct_idle), 2))
    data.bucket = BucketTimings([10.0], [9.0], [10 + upload_trips * trip], [3 * trip])
    data.reference[(MAIN_SAMPLE, 1)].append(ReferenceRun(1, 50, 2.5, 1.0, 25))
    data.reference[(MAIN_SAMPLE, 2)].append(ReferenceRun(2, 100, 2.5, 2.0, 50))  # 40/s, 20 ms
    data.store_reference[MAIN_SAMPLE].append(ReferenceRun(2, 100, 3.0, store_cpu * 100, 50))
    for concurrency in CONCURRENCIES:
        p99 = p99_at_8 if concurrency == 8 else 100.0
        data.service[(MAIN_SAMPLE, concurrency)].append(
            service_run(concurrency, 38.0, 50.0, p99, cpu_per_image)
        )
    data.peer.append(service_run(4, peer_rps, 80.0, 120.0, peer_cpu))
    data.cached.append(service_run(1, 500, 2.0, 3.0, 0.001))
    data.lookup.append(service_run(1, 900, lookup_p50, 2.0, 0.0005))
    data.rss_trend = [
        RssPoint(uploads, 80, 90, ((1, 80 + rss_growth_per_upload * uploads), (2, 80)))
        for uploads in range(20, 140, 20)
    ]
    data.peak_worker_rss_mb = 120.0
    return data


def test_ratios_and_targets_met() -> None:
    figures = summarise(measurements(0.021, 0.0), QUICK, MACHINE)
    assert figures["throughput_ratio"] == pytest.approx(0.95), "38 req/s against 40 images/s"
    assert figures["cpu_per_image_ratio"] == pytest.approx(1.05), "21 ms against 20 ms"
    assert figures["peer_throughput_ratio"] == pytest.approx(1.9), "38 req/s against 20"
    assert figures["peer_cpu_ratio"] == pytest.approx(0.525), "21 ms against 40 ms"
    assert figures["overhead_cpu_ratio"] == pytest.approx(1.05), "21 ms against 20 ms stored"
    assert figures["peer"]["cpu_ms_per_image"]["median"] == 40.0
    assert figures["store_reference"][0]["cpu_ms_per_image"]["median"] == 20.0
    assert (figures["p50_ms"], figures["p99_ms"]) == (50.0, 100.0)
    assert figures["cache_speedup"] == 25.0, "50 ms first against 2 ms cached"
    assert figures["lookup_speedup"] == 50.0, "50 ms first against a 1 ms lookup"
    assert figures["cached"]["lookup_p50_ms"]["median"] == 1.0
    assert figures["cached"]["lookup_cpu_ms"]["median"] == 0.5
    reference = {row["processes"]: row for row in figures["reference"]}
    assert reference[2]["page_faults_per_image"]["median"] == 0.5, "50 faults over 100 images"
    assert all(verdict["met"] for verdict in figures["targets"].values()), figures["targets"]
    assert all(verdict["met"] for verdict in figures["goals"].values()), figures["goals"]
    json.dumps(figures)  # --json must be able to print it
    assert "NOT met" not in human_summary(figures)


@pytest.mark.parametrize(
    ("cpu_per_image", "growth", "others", "missed", "figure"),
    [
        (0.024, 0.0, {"store_cpu": 0.023}, "cpu_per_image_ratio <= 1.15", 1.2),
        (0.021, 0.3, {}, "worker RSS <= 250 MB and flat", 120.0),
        (0.021, 0.0, {"peer_rps": 30.0}, "peer_throughput_ratio >= 1.5", 1.267),
        (0.021, 0.0, {"peer_cpu": 0.030}, "peer_cpu_ratio <= 0.65", 0.7),
        (0.021, 0.0, {"store_cpu": 0.015}, "overhead_cpu_ratio <= 1.10", 1.4),
        (0.021, 0.0, {"p99_at_8": 200.0}, "p99 <= 3 x p50 at c=8", 4.0),
        (0.021, 0.0, {"lookup_p50": 5.0}, "lookup_speedup >= 20", 10.0),
        (0.021, 0.0, {"small_cpu": 5.2}, "cpu_per_image_ratio at 480p JPEG <= 1.25", 1.3),
        (0.021, 0.0, {"large_cpu": 130.0}, "cpu_per_image_ratio at 4K JPEG <= 1.25", 1.3),
        (
            0.021,
            0.0,
            {"upload_trips": 3.0},
            "S3 upload p50 <= file-store p50 + 2 round trips",
            3.0,
        ),
        (0.021, 0.0, {"direct_idle": 0.25}, "backend driven directly: idle cores < 5 %", 0.25),
    ],
)
def test_a_missed_target_is_reported_with_its_figure(
    cpu_per_image: float, growth: float, others: dict[str, float], missed: str, figure: float
) -> None:
    figures = summarise(measurements(cpu_per_image, growth, **others), QUICK, MACHINE)
    targets = figures["targets"]
    assert [name for name, verdict in targets.items() if not verdict["met"]] == [missed]
    assert targets[missed]["median"] == pytest.approx(figure, abs=0.001)
    line = next(line for line in human_summary(figures).splitlines() if missed in line)
    assert line.split()[:2] == ["NOT", "met"], line
    assert f"{targets[missed]['median']:g}" in line, "the verdict shows its number"


def test_goals_are_stricter_than_the_targets() -> None:
    """1.12 x the compute-only CPU meets the 1.15 target, not the 1.10 goal."""
    figures = summarise(measurements(0.0224, 0.0), QUICK, MACHINE)
    assert figures["targets"]["cpu_per_image_ratio <= 1.15"]["met"]
    assert not figures["goals"]["cpu_per_image_ratio <= 1.10"]["met"]


def test_a_small_wobble_over_a_short_run_is_flat() -> None:
    """0.05 MB per upload over the fitted 80 uploads is 4 MB: noise, not a leak."""
    figures = summarise(measurements(0.021, 0.05), QUICK, MACHINE)
    assert figures["targets"]["worker RSS <= 250 MB and flat"]["met"], figures["rss_trend"]


def recycled_worker_trend(
    steady_rss: float, recycled_at: int, samples: list[tuple[int, float]]
) -> list[RssPoint]:
    """Worker 1 stays at steady_rss; worker 2 (RSS from samples) is replaced by worker 3
    at `recycled_at` uploads, as gunicorn's max_requests does."""
    return [
        RssPoint(uploads, 0, 0, ((1, steady_rss), (2 if uploads < recycled_at else 3, rss)))
        for uploads, rss in samples
    ]


def test_a_recycled_worker_and_first_steps_are_not_a_trend() -> None:
    """Worker 2 is replaced by worker 3, which steps up on its first 4K image."""
    data = measurements(0.021, 0.0)
    data.rss_trend = recycled_worker_trend(
        81.0,
        200,
        [
            (50, 66.6),
            (100, 66.6),
            (150, 66.6),
            (200, 63.5),
            (250, 78.3),
            (300, 78.3),
            (350, 78.3),
            (400, 78.4),
        ],
    )
    figures = summarise(data, QUICK, MACHINE)
    assert abs(figures["rss_growth_mb_per_100_uploads"]) < 0.1, figures["rss_trend"]
    assert figures["workers_recycled_during_rss_run"] == 1
    assert figures["targets"]["worker RSS <= 250 MB and flat"]["met"]


def test_a_recycled_worker_idling_before_its_first_4k_image_is_not_a_trend() -> None:
    """Worker 3 replaces worker 2 and gets no upload for two samples, then steps up."""
    data = measurements(0.021, 0.0)
    data.rss_trend = recycled_worker_trend(
        187.2,
        400,
        [
            (100, 185.9),
            (200, 185.9),
            (300, 186.0),
            (400, 44.7),
            (450, 44.7),
            (500, 155.8),
            (550, 155.8),
        ],
    )
    figures = summarise(data, QUICK, MACHINE)
    assert abs(figures["rss_growth_mb_per_100_uploads"]) < 0.1, figures["rss_trend"]


def test_steady_growth_after_the_warm_up_step_is_a_trend() -> None:
    data = measurements(0.021, 0.0)
    data.rss_trend = [
        RssPoint(uploads, 0, 0, ((1, 80.0 + (uploads > 50) * 60 + uploads * 0.1),))
        for uploads in range(50, 550, 50)
    ]
    figures = summarise(data, QUICK, MACHINE)
    assert figures["rss_growth_mb_per_100_uploads"] > 9, figures["rss_trend"]
    assert not figures["targets"]["worker RSS <= 250 MB and flat"]["met"]
