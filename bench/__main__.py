"""`python -m bench [--quick] [--json] [--chart PATH]`: run the bench, print the figures."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.chart import write_latency_chart
from bench.load import LoadError
from bench.machine import this_machine
from bench.measure import Bench
from bench.plan import FULL, QUICK
from bench.report import human_summary, summarise
from localrun.stack import StartupError

DEFAULT_CHART = Path("reports") / "bench-latency.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="The service through its gateway against a naive peer and raw OpenCV.",
    )
    parser.add_argument("--quick", action="store_true", help="one short round (under a minute)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART, help="latency chart PNG path")
    return parser.parse_args(argv)


def _progress(line: str) -> None:
    """To stderr, so that stdout holds only the summary or the JSON."""
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    machine = this_machine()
    try:
        with tempfile.TemporaryDirectory(prefix="canny-bench-") as work_dir:
            measurements = Bench(plan, Path(work_dir), _progress).run()
    except (LoadError, StartupError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    figures = summarise(measurements, plan, machine)
    figures["chart"] = str(write_latency_chart(figures, args.chart))
    print(
        json.dumps(figures)
        if args.json
        else human_summary(figures) + f"\nchart: {figures['chart']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
