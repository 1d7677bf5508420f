"""The latency-against-concurrency chart (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

# Agg must be chosen before pyplot is imported: no display, no GUI toolkit.
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def write_latency_chart(figures: dict[str, Any], path: Path) -> Path:
    rows = [row for row in figures["service"] if row["sample"] == figures["main_sample"]]
    rows.sort(key=lambda row: row["concurrency"])
    concurrency = [row["concurrency"] for row in rows]
    figure, latency_axis = plt.subplots(figsize=(7, 4.5), dpi=100)
    for name, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        medians = [row[name]["median"] for row in rows]
        low = [row[name]["median"] - row[name]["low"] for row in rows]
        high = [row[name]["high"] - row[name]["median"] for row in rows]
        latency_axis.errorbar(
            concurrency,
            medians,
            yerr=[low, high],
            fmt=style,
            capsize=3,
            label=name.removesuffix("_ms"),
        )
    latency_axis.set_xlabel("concurrent clients")
    latency_axis.set_ylabel("latency (ms)")
    latency_axis.set_xticks(concurrency)
    throughput_axis = latency_axis.twinx()
    throughput_axis.bar(
        concurrency,
        [row["requests_per_s"]["median"] for row in rows],
        alpha=0.15,
        color="grey",
        label="req/s",
    )
    throughput_axis.set_ylabel("requests/s (bars)")
    latency_axis.set_zorder(throughput_axis.get_zorder() + 1)
    latency_axis.patch.set_visible(False)
    latency_axis.legend(loc="upper left")
    latency_axis.set_title(f"canny service via gateway, {figures['main_sample']} uploads")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
