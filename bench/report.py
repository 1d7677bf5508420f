"""Figures from the measurements: the JSON object of `--json` and the human summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from itertools import pairwise
from typing import Any

from bench.machine import Machine
from bench.measure import Measurements, RssPoint
from bench.plan import CONCURRENCIES, FIXED_CONCURRENCY, MAIN_SAMPLE, Plan
from bench.stats import Spread, slope, spread

TARGET_THROUGHPUT_RATIO = 0.90
TARGET_CPU_PER_IMAGE_RATIO = 1.10
TARGET_P99_OVER_P50 = 3.0
TARGET_CACHE_SPEEDUP = 20.0
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


def summarise(data: Measurements, plan: Plan, machine: Machine) -> dict[str, Any]:
    """Ratios are taken per round (service and raw ran back to back), then the median."""
    main_reference = data.reference[(MAIN_SAMPLE, 2)]
    best_rps_per_round = [
        max(data.service[(MAIN_SAMPLE, c)][index].load.requests_per_second for c in CONCURRENCIES)
        for index in range(plan.rounds)
    ]
    throughput = _per_round_ratios(
        best_rps_per_round, [run.images_per_second for run in main_reference]
    )
    at_fixed = data.service[(MAIN_SAMPLE, FIXED_CONCURRENCY)]
    cpu_ratio = _per_round_ratios(
        [run.cpu_per_image for run in at_fixed], [run.cpu_per_image for run in main_reference]
    )
    p50 = spread([run.load.p50_ms for run in at_fixed])
    p99 = spread([run.load.p99_ms for run in at_fixed])
    first = data.service[(MAIN_SAMPLE, 1)]
    cache = _per_round_ratios(
        [run.load.p50_ms for run in first], [run.load.p50_ms for run in data.cached]
    )
    trend = data.rss_trend
    growth = worst_worker_growth(trend)
    flat = growth * _fitted_span(trend) / 100 < FLAT_RSS_GROWTH_MB
    rss_max = data.peak_worker_rss_mb
    main_label = data.samples[MAIN_SAMPLE].label
    return {
        "machine": asdict(machine),
        "plan": {"rounds": plan.rounds, "quick": plan.rounds == 1},
        "main_sample": main_label,
        "throughput_ratio": round(throughput.median, 3),
        "cpu_per_image_ratio": round(cpu_ratio.median, 3),
        "p50_ms": round(p50.median, 1),
        "p99_ms": round(p99.median, 1),
        "cache_speedup": round(cache.median, 1),
        "rss_mb_max": round(rss_max, 1),
        "rss_growth_mb_per_100_uploads": round(growth, 2),
        "ranges": {
            "throughput_ratio": _spread_json(throughput),
            "cpu_per_image_ratio": _spread_json(cpu_ratio),
            "p50_ms": _spread_json(p50, 1),
            "p99_ms": _spread_json(p99, 1),
            "cache_speedup": _spread_json(cache, 1),
        },
        "targets": {
            "throughput_ratio >= 0.90": throughput.median >= TARGET_THROUGHPUT_RATIO,
            "cpu_per_image_ratio <= 1.10": cpu_ratio.median <= TARGET_CPU_PER_IMAGE_RATIO,
            "p99 <= 3 x p50 at c=4": p99.median <= TARGET_P99_OVER_P50 * p50.median,
            "cache_speedup >= 20": cache.median >= TARGET_CACHE_SPEEDUP,
            "worker RSS <= 250 MB and flat": rss_max <= TARGET_RSS_MB and flat,
        },
        "client": {
            "requests": data.client_requests,
            "cpu_seconds": round(data.client_cpu_seconds, 2),
            "cpu_ms_per_request": round(
                1000 * data.client_cpu_seconds / max(data.client_requests, 1), 3
            ),
        },
        "reference": [
            {
                "sample": data.samples[key].label,
                "processes": processes,
                "images_per_s": _spread_json(spread([r.images_per_second for r in runs]), 1),
                "cpu_ms_per_image": _spread_json(
                    spread([r.cpu_per_image for r in runs]).scaled(1000), 2
                ),
                "page_faults_per_image": _spread_json(
                    spread([r.page_faults_per_image for r in runs]), 1
                ),
            }
            for (key, processes), runs in data.reference.items()
        ],
        "service": [
            {
                "sample": data.samples[key].label,
                "concurrency": concurrency,
                "requests_per_s": _spread_json(
                    spread([r.load.requests_per_second for r in runs]), 1
                ),
                "p50_ms": _spread_json(spread([r.load.p50_ms for r in runs]), 1),
                "p95_ms": _spread_json(spread([r.load.p95_ms for r in runs]), 1),
                "p99_ms": _spread_json(spread([r.load.p99_ms for r in runs]), 1),
                "cpu_ms_per_image": _spread_json(
                    spread([r.cpu_per_image for r in runs]).scaled(1000), 2
                ),
                "errors": sum(r.load.errors for r in runs),
                "client_cpu_ms_per_request": round(
                    1000
                    * sum(r.load.client_cpu_seconds for r in runs)
                    / max(sum(r.load.requests for r in runs), 1),
                    3,
                ),
            }
            for (key, concurrency), runs in data.service.items()
        ],
        "cached": {
            "sample": main_label,
            "first_upload_p50_ms": _spread_json(spread([r.load.p50_ms for r in first]), 2),
            "cached_p50_ms": _spread_json(spread([r.load.p50_ms for r in data.cached]), 2),
        },
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
        ["raw OpenCV", "processes", "images/s", "CPU ms/image"],
        [
            [
                row["sample"],
                str(row["processes"]),
                _range(row["images_per_s"]),
                _range(row["cpu_ms_per_image"]),
            ]
            for row in figures["reference"]
        ],
    )
    lines.append("")
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
            for row in figures["service"]
        ],
    )
    lines.append("")
    cached = figures["cached"]
    client = figures["client"]
    trend = figures["rss_trend"]
    lines += [
        f"cache ({cached['sample']}, c=1): first upload p50 "
        f"{_range(cached['first_upload_p50_ms'], ' ms')}, "
        f"cached p50 {_range(cached['cached_p50_ms'], ' ms')}",
        f"worker RSS over {trend[-1]['uploads']} uploads of 4K JPEG: "
        f"{trend[0]['mean_rss_mb']:.0f} -> {trend[-1]['mean_rss_mb']:.0f} MB "
        f"(mean of workers), trend {figures['rss_growth_mb_per_100_uploads']:+.2f} MB/100 uploads, "
        f"peak {figures['rss_mb_max']} MB; "
        f"{figures['workers_recycled_during_rss_run']} worker(s) recycled meanwhile",
        f"client (wrk): {client['cpu_seconds']} CPU-s for {client['requests']} requests "
        f"= {client['cpu_ms_per_request']} ms/request, on the same cores",
        "",
        f"targets ({figures['main_sample']}):",
        f"  throughput_ratio    {_range(ranges['throughput_ratio'])}",
        f"  cpu_per_image_ratio {_range(ranges['cpu_per_image_ratio'])}",
        f"  p50 at c=4          {_range(ranges['p50_ms'], ' ms')}",
        f"  p99 at c=4          {_range(ranges['p99_ms'], ' ms')}",
        f"  cache_speedup       {_range(ranges['cache_speedup'])}",
        f"  worker RSS max      {figures['rss_mb_max']} MB",
    ]
    lines += [
        f"  {'met    ' if met else 'NOT met'} {name}" for name, met in figures["targets"].items()
    ]
    return "\n".join(lines)
