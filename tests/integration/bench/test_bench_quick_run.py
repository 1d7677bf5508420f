"""`python -m bench --quick --json` from the repository, as a user runs it: it starts its
own stack, measures, prints one JSON object with the issue's figures and writes the
chart. Only that the figures exist and are consistent is checked, never their size."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from localrun.nginx_config import REPO_ROOT

HEADLINE = (
    "throughput_ratio",
    "cpu_per_image_ratio",
    "peer_throughput_ratio",
    "peer_cpu_ratio",
    "overhead_cpu_ratio",
    "p50_ms",
    "p99_ms",
    "cache_speedup",
    "lookup_speedup",
)


def test_quick_bench_prints_every_figure_and_writes_the_chart(
    tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    require_tool("nginx")
    require_tool("wrk")
    chart = tmp_path / "latency.png"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", "--chart", str(chart)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)

    for name in HEADLINE:
        assert figures[name] > 0, name
        assert figures["ranges"][name]["low"] <= figures[name] <= figures["ranges"][name]["high"]
    assert figures["p99_ms"] >= figures["p50_ms"]
    assert 0 < figures["rss_mb_max"] < 4096
    assert set(figures["targets"]) == {
        "peer_throughput_ratio >= 1.5",
        "throughput_ratio >= 0.85",
        "peer_cpu_ratio <= 0.65",
        "cpu_per_image_ratio <= 1.15",
        "overhead_cpu_ratio <= 1.10",
        "p99 <= 3 x p50 at c=4",
        "p99 <= 3 x p50 at c=8",
        "cache_speedup >= 20",
        "lookup_speedup >= 20",
        "worker RSS <= 250 MB and flat",
        "cpu_per_image_ratio at 480p JPEG <= 1.25",
        "cpu_per_image_ratio at 4K JPEG <= 1.25",
        "S3 upload p50 <= file-store p50 + 2 round trips",
        "20-result gallery page <= 3 round trips",
        "backend driven directly: idle cores < 5 %",
    }
    assert set(figures["goals"]) == {"throughput_ratio >= 0.90", "cpu_per_image_ratio <= 1.10"}
    for verdict in (*figures["targets"].values(), *figures["goals"].values()):
        assert isinstance(verdict["met"], bool) and verdict["median"] > 0, verdict
    assert figures["client"]["requests"] > 0 and figures["client"]["cpu_seconds"] > 0
    assert {row["processes"] for row in figures["reference"]} == {1, 2}
    service = {row["concurrency"]: row for row in figures["service"]}
    assert set(service) == {1, 2, 4, 8}
    assert all(row["errors"] == 0 for row in service.values()), service
    peer = figures["peer"]
    assert peer["errors"] == 0 and peer["requests_per_s"]["median"] > 0, peer
    assert peer["cpu_ms_per_image"]["median"] > 0, peer
    assert figures["cached"]["lookup_p50_ms"]["median"] > 0, figures["cached"]
    stored = {row["sample"]: row for row in figures["store_reference"]}
    assert stored[figures["main_sample"]]["cpu_ms_per_image"]["median"] > 0, stored

    image = cv2.imdecode(np.frombuffer(chart.read_bytes(), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
