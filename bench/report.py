"""Figures from the measurements: the JSON object of `--json` and the human summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from bench.machine import Machine
from bench.measure import Measurements, RssPoint, ServiceRun
from bench.plan import FIXED_CONCURRENCY, MAIN_SAMPLE, SIZE_SAMPLES, Plan
from bench.reference import ReferenceRun
from bench.stats import Spread, slope, spread
from bench.storage_latency import BucketTimings, verdicts

# Targets for the main sample at FIXED_CONCURRENCY; ratios are service / other.
TARGET_PEER_THROUGHPUT_RATIO = 1.5
TARGET_PEER_CPU_RATIO = 0.65
TARGET_THROUGHPUT_RATIO = 0.85
TARGET_CPU_PER_IMAGE_RATIO = 1.15
# The share of the cores a backend driven directly leaves idle while uploads wait.
TARGET_IDLE_SHARE = 0.05
# CPU per image against the compute-only reference at 480p and at 4K (issue 31, item 6).
TARGET_SIZE_CPU_RATIO = 1.25
TARGET_OVERHEAD_CPU_RATIO = 1.10
# Where the service should end up against the compute-only reference.
GOAL_THROUGHPUT_RATIO = 0.90
GOAL_CPU_PER_IMAGE_RATIO = 1.10
TARGET_P99_OVER_P50 = 3.0
TAIL_CONCURRENCIES = (4, 8)
TARGET_CACHE_SPEEDUP = 20.0
# A repeat of a processed image as the page makes it: the lookup by SHA-256 instead of the
# upload, against a first upload of that image (p50 at c=1 through the gateway).
TARGET_LOOKUP_SPEEDUP = 20.0
TARGET_RSS_MB = 250.0
# "Flat": no worker's fitted RSS trend grows more than this over the run (for the full
# run's 500 uploads: under 2 MB per 100 uploads).
FLAT_RSS_GROWTH_MB = 10.0


def _worker_series(trend: Sequence[RssPoint]) -> dict[int, list[tuple[int, float]]]:
    series: dict[int, list[tuple[int, float]]] = {}
    for point in trend:
        for pid, rss in point.worker_rss_mb:
            series.setdefault(pid, []).append((point.uploads, rss))
    return series


def _after_warm_up(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The samples after a worker's biggest single step up: its first 4K image, which
    the allocator's arenas keep (growth, but once; not a leak). A recycled worker may
    idle for several samples before that image reaches it."""
    steps = [later[1] - earlier[1] for earlier, later in pairwise(points)]
    if not steps:
        return points
    return points[steps.index(max(steps)) + 1 :]


def worst_worker_growth(trend: Sequence[RssPoint]) -> float:
    """The steepest RSS trend of any one worker, in MB per 100 uploads.

    Per worker, because gunicorn recycles workers (max_requests) and a new one starts
    small, and from each worker's warm-up step on (see _after_warm_up).
    """
    settled = [_after_warm_up(points) for points in _worker_series(trend).values()]
    slopes = [
        slope([uploads for uploads, _ in points], [rss for _, rss in points])
        for points in settled
        if len(points) >= 2
    ]
    if not slopes:
        raise ValueError("the memory run is too short for a per-worker trend")
    return max(slopes) * 100


def _fitted_span(trend: Sequence[RssPoint]) -> int:
    return trend[-1].uploads - trend[0].uploads


def _spread_json(value: Spread, digits: int = 3) -> dict[str, float]:
    return {name: round(number, digits) for name, number in asdict(value).items()}


def _per_round_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    return spread([top / bottom for top, bottom in zip(numerators, denominators, strict=True)])


@dataclass(frozen=True)
class Verdict:
    """A target's figure (median and range of the rounds) and whether the median meets it."""

    measured: Spread
    met: bool

    def as_json(self) -> dict[str, Any]:
        return {"met": self.met, **_spread_json(self.measured)}


def at_least(measured: Spread, bound: float) -> Verdict:
    return Verdict(measured, measured.median >= bound)


def at_most(measured: Spread, bound: float) -> Verdict:
    return Verdict(measured, measured.median <= bound)


@dataclass(frozen=True)
class Ratios:
    """The service at FIXED_CONCURRENCY on the main sample against the others, per round."""

    throughput: Spread
    cpu: Spread
    peer_throughput: Spread
    peer_cpu: Spread
    overhead_cpu: Spread


def main_ratios(data: Measurements) -> Ratios:
    """Ratios are taken per round (everything ran back to back), then the median."""
    service = data.service[(MAIN_SAMPLE, FIXED_CONCURRENCY)]
    compute = data.reference[(MAIN_SAMPLE, 2)]
    stored = data.store_reference[MAIN_SAMPLE]

    def rate(runs: Sequence[ServiceRun]) -> list[float]:
        return [run.load.requests_per_second for run in runs]

    def cpu(runs: Sequence[ServiceRun | ReferenceRun]) -> list[float]:
        return [run.cpu_per_image for run in runs]

    return Ratios(
        throughput=_per_round_ratios(rate(service), [run.images_per_second for run in compute]),
        cpu=_per_round_ratios(cpu(service), cpu(compute)),
        peer_throughput=_per_round_ratios(rate(service), rate(data.peer)),
        peer_cpu=_per_round_ratios(cpu(service), cpu(data.peer)),
        overhead_cpu=_per_round_ratios(cpu(service), cpu(stored)),
    )


def size_cpu_ratio(data: Measurements, key: tuple[str, str]) -> Spread:
    """The service's CPU per image at FIXED_CONCURRENCY over the compute-only reference
    (2 processes) for one sample, per round."""
    return _per_round_ratios(
        [run.cpu_per_image for run in data.service[(key, FIXED_CONCURRENCY)]],
        [run.cpu_per_image for run in data.reference[(key, 2)]],
    )


def bucket_targets(timings: BucketTimings) -> dict[str, Verdict]:
    """The bucket path's two targets, in round trips, from medians (one run: no range)."""
    figures = verdicts(timings.file_ms, timings.distant_ms, timings.page_ms)
    upload = figures["upload_extra_round_trips"]
    page = figures["page_round_trips"]
    return {
        "S3 upload p50 <= file-store p50 + 2 round trips": Verdict(
            Spread(upload, upload, upload), figures["upload_target_met"]
        ),
        "20-result gallery page <= 3 round trips": Verdict(
            Spread(page, page, page), figures["page_target_met"]
        ),
    }


def _tail_ratio(runs: Sequence[ServiceRun]) -> Spread:
    return _per_round_ratios([run.load.p99_ms for run in runs], [run.load.p50_ms for run in runs])


def _load_row(label: str, runs: Sequence[ServiceRun]) -> dict[str, Any]:
    return {
        "sample": label,
        "requests_per_s": _spread_json(spread([r.load.requests_per_second for r in runs]), 1),
        "p50_ms": _spread_json(spread([r.load.p50_ms for r in runs]), 1),
        "p95_ms": _spread_json(spread([r.load.p95_ms for r in runs]), 1),
        "p99_ms": _spread_json(spread([r.load.p99_ms for r in runs]), 1),
        "cpu_ms_per_image": _spread_json(spread([r.cpu_per_image for r in runs]).scaled(1000), 2),
        "errors": sum(r.load.errors for r in runs),
        "client_cpu_ms_per_request": round(
            1000
            * sum(r.load.client_cpu_seconds for r in runs)
            / max(sum(r.load.requests for r in runs), 1),
            3,
        ),
    }


def _reference_row(label: str, processes: int, runs: Sequence[ReferenceRun]) -> dict[str, Any]:
    return {
        "sample": label,
        "processes": processes,
        "images_per_s": _spread_json(spread([r.images_per_second for r in runs]), 1),
        "cpu_ms_per_image": _spread_json(spread([r.cpu_per_image for r in runs]).scaled(1000), 2),
        "page_faults_per_image": _spread_json(spread([r.page_faults_per_image for r in runs]), 1),
    }


def summarise(data: Measurements, plan: Plan, machine: Machine) -> dict[str, Any]:
    if data.bucket is None:
        raise ValueError("the bucket path was not measured (Bench.run measures it last)")
    ratios = main_ratios(data)
    at_fixed = data.service[(MAIN_SAMPLE, FIXED_CONCURRENCY)]
    p50 = spread([run.load.p50_ms for run in at_fixed])
    p99 = spread([run.load.p99_ms for run in at_fixed])
    first = data.service[(MAIN_SAMPLE, 1)]
    cache = _per_round_ratios(
        [run.load.p50_ms for run in first], [run.load.p50_ms for run in data.cached]
    )
    lookup = _per_round_ratios(
        [run.load.p50_ms for run in first], [run.load.p50_ms for run in data.lookup]
    )
    trend = data.rss_trend
    growth = worst_worker_growth(trend)
    flat = growth * _fitted_span(trend) / 100 < FLAT_RSS_GROWTH_MB
    rss_max = data.peak_worker_rss_mb
    idle = spread([run.idle_share for run in data.direct])
    main_label = data.samples[MAIN_SAMPLE].label
    targets = {
        "peer_throughput_ratio >= 1.5": at_least(
            ratios.peer_throughput, TARGET_PEER_THROUGHPUT_RATIO
        ),
        "throughput_ratio >= 0.85": at_least(ratios.throughput, TARGET_THROUGHPUT_RATIO),
        "peer_cpu_ratio <= 0.65": at_most(ratios.peer_cpu, TARGET_PEER_CPU_RATIO),
        "cpu_per_image_ratio <= 1.15": at_most(ratios.cpu, TARGET_CPU_PER_IMAGE_RATIO),
        **{
            f"cpu_per_image_ratio at {data.samples[key].label} <= 1.25": at_most(
                size_cpu_ratio(data, key), TARGET_SIZE_CPU_RATIO
            )
            for key in SIZE_SAMPLES
        },
        "overhead_cpu_ratio <= 1.10": at_most(ratios.overhead_cpu, TARGET_OVERHEAD_CPU_RATIO),
        **{
            f"p99 <= 3 x p50 at c={c}": at_most(
                _tail_ratio(data.service[(MAIN_SAMPLE, c)]), TARGET_P99_OVER_P50
            )
            for c in TAIL_CONCURRENCIES
        },
        "cache_speedup >= 20": at_least(cache, TARGET_CACHE_SPEEDUP),
        "lookup_speedup >= 20": at_least(lookup, TARGET_LOOKUP_SPEEDUP),
        "worker RSS <= 250 MB and flat": Verdict(
            Spread(rss_max, rss_max, rss_max), rss_max <= TARGET_RSS_MB and flat
        ),
        **bucket_targets(data.bucket),
        "backend driven directly: idle cores < 5 %": at_most(idle, TARGET_IDLE_SHARE),
    }
    goals = {
        "throughput_ratio >= 0.90": at_least(ratios.throughput, GOAL_THROUGHPUT_RATIO),
        "cpu_per_image_ratio <= 1.10": at_most(ratios.cpu, GOAL_CPU_PER_IMAGE_RATIO),
    }
    return {
        "machine": asdict(machine),
        "plan": {"rounds": plan.rounds, "quick": plan.rounds == 1},
        "main_sample": main_label,
        "concurrency": FIXED_CONCURRENCY,
        "throughput_ratio": round(ratios.throughput.median, 3),
        "cpu_per_image_ratio": round(ratios.cpu.median, 3),
        "peer_throughput_ratio": round(ratios.peer_throughput.median, 3),
        "peer_cpu_ratio": round(ratios.peer_cpu.median, 3),
        "overhead_cpu_ratio": round(ratios.overhead_cpu.median, 3),
        "p50_ms": round(p50.median, 1),
        "p99_ms": round(p99.median, 1),
        "cache_speedup": round(cache.median, 1),
        "lookup_speedup": round(lookup.median, 1),
        "rss_mb_max": round(rss_max, 1),
        "rss_growth_mb_per_100_uploads": round(growth, 2),
        "ranges": {
            "throughput_ratio": _spread_json(ratios.throughput),
            "cpu_per_image_ratio": _spread_json(ratios.cpu),
            "peer_throughput_ratio": _spread_json(ratios.peer_throughput),
            "peer_cpu_ratio": _spread_json(ratios.peer_cpu),
            "overhead_cpu_ratio": _spread_json(ratios.overhead_cpu),
            "p50_ms": _spread_json(p50, 1),
            "p99_ms": _spread_json(p99, 1),
            "cache_speedup": _spread_json(cache, 1),
            "lookup_speedup": _spread_json(lookup, 1),
        },
        "targets": {name: verdict.as_json() for name, verdict in targets.items()},
        "goals": {name: verdict.as_json() for name, verdict in goals.items()},
        "client": {
            "requests": data.client_requests,
            "cpu_seconds": round(data.client_cpu_seconds, 2),
            "cpu_ms_per_request": round(
                1000 * data.client_cpu_seconds / max(data.client_requests, 1), 3
            ),
        },
        "reference": [
            _reference_row(data.samples[key].label, processes, runs)
            for (key, processes), runs in data.reference.items()
        ],
        "store_reference": [
            _reference_row(data.samples[key].label, 2, runs)
            for key, runs in data.store_reference.items()
        ],
        "service": [
            {"concurrency": concurrency, **_load_row(data.samples[key].label, runs)}
            for (key, concurrency), runs in data.service.items()
        ],
        "peer": {"concurrency": FIXED_CONCURRENCY, **_load_row(main_label, data.peer)},
        "cached": {
            "sample": main_label,
            "first_upload_p50_ms": _spread_json(spread([r.load.p50_ms for r in first]), 2),
            "cached_p50_ms": _spread_json(spread([r.load.p50_ms for r in data.cached]), 2),
            "lookup_p50_ms": _spread_json(spread([r.load.p50_ms for r in data.lookup]), 2),
            "lookup_cpu_ms": _spread_json(
                spread([r.cpu_per_image for r in data.lookup]).scaled(1000), 3
            ),
        },
        "direct_backend": {
            "sample": main_label,
            "concurrency": FIXED_CONCURRENCY,
            "idle_share": _spread_json(idle),
            "requests_per_s": _spread_json(
                spread([run.load.requests_per_second for run in data.direct]), 1
            ),
        },
        "bucket": verdicts(data.bucket.file_ms, data.bucket.distant_ms, data.bucket.page_ms),
        "rss_trend": [asdict(point) for point in trend],
        # gunicorn recycles workers after max_requests: a new pid restarts its RSS.
        "workers_recycled_during_rss_run": len({pid for p in trend for pid in p.worker_pids})
        - len(trend[-1].worker_pids),
        "workers_seen": len(data.worker_pids_seen),
    }


def _range(value: dict[str, float], unit: str = "") -> str:
    return f"{value['median']:g}{unit} ({value['low']:g}-{value['high']:g})"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


def human_summary(figures: dict[str, Any]) -> str:
    machine = figures["machine"]
    ranges = figures["ranges"]
    lines = [
        f"canny bench: {machine['cores']} cores, {machine['cpu_model']}, "
        f"{machine['memory_gb']} GB RAM, load {machine['load_average']:.2f} at start; "
        f"{figures['plan']['rounds']} round(s), median (range)",
        "",
    ]
    lines += _table(
        ["reference", "sample", "processes", "images/s", "CPU ms/image"],
        [
            [
                name,
                row["sample"],
                str(row["processes"]),
                _range(row["images_per_s"]),
                _range(row["cpu_ms_per_image"]),
            ]
            for name, key in (("compute only", "reference"), ("store", "store_reference"))
            for row in figures[key]
        ],
    )
    lines.append("")
    peer = {**figures["peer"], "sample": f"naive peer {figures['peer']['sample']}"}
    lines += _table(
        [
            "service via gateway",
            "c",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/image",
            "client CPU ms/req",
            "errors",
        ],
        [
            [
                row["sample"],
                str(row["concurrency"]),
                _range(row["requests_per_s"]),
                _range(row["p50_ms"]),
                _range(row["p99_ms"]),
                _range(row["cpu_ms_per_image"]),
                f"{row['client_cpu_ms_per_request']:g}",
                str(row["errors"]),
            ]
            for row in (*figures["service"], peer)
        ],
    )
    lines.append("")
    cached = figures["cached"]
    bucket = figures["bucket"]
    direct = figures["direct_backend"]
    client = figures["client"]
    trend = figures["rss_trend"]
    lines += [
        f"cache ({cached['sample']}, c=1): first upload p50 "
        f"{_range(cached['first_upload_p50_ms'], ' ms')}, "
        f"cached p50 {_range(cached['cached_p50_ms'], ' ms')}, "
        f"lookup by SHA-256 p50 {_range(cached['lookup_p50_ms'], ' ms')}",
        f"worker RSS over {trend[-1]['uploads']} uploads of 4K JPEG: "
        f"{trend[0]['mean_rss_mb']:.0f} -> {trend[-1]['mean_rss_mb']:.0f} MB "
        f"(mean of workers), trend {figures['rss_growth_mb_per_100_uploads']:+.2f} MB/100 uploads, "
        f"peak {figures['rss_mb_max']} MB; "
        f"{figures['workers_recycled_during_rss_run']} worker(s) recycled meanwhile",
        f"client (wrk): {client['cpu_seconds']} CPU-s for {client['requests']} requests "
        f"= {client['cpu_ms_per_request']} ms/request, on the same cores",
        "",
        f"p50 / p99 at c={figures['concurrency']}: {_range(ranges['p50_ms'], ' ms')} / "
        f"{_range(ranges['p99_ms'], ' ms')}",
        f"one backend driven directly ({figures['main_sample']}, c={figures['concurrency']}):"
        f" {_range(direct['requests_per_s'], ' req/s')},"
        f" cores idle {_range(direct['idle_share'])} of the time",
        f"bucket path (moto behind a {bucket['round_trip_ms']:g} ms round trip, in-process app):"
        f" an upload {bucket['upload_extra_round_trips']:g} round trips over the file store,"
        f" a 20-result page {bucket['page_round_trips']:g} round trips",
        f"targets ({figures['main_sample']}, c={figures['concurrency']} unless named; "
        "ratios are service / other):",
        *_verdict_lines(figures["targets"]),
        "goals:",
        *_verdict_lines(figures["goals"]),
    ]
    return "\n".join(lines)


def _verdict_lines(verdicts: dict[str, dict[str, Any]]) -> list[str]:
    width = max(len(name) for name in verdicts)
    return [
        f"  {'met    ' if verdict['met'] else 'NOT met'} {name.ljust(width)}  {_range(verdict)}"
        for name, verdict in verdicts.items()
    ]
