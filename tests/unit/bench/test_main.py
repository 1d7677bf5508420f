"""The command line: flags, and a clear message instead of a traceback when a tool is missing."""

from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.load import LoadError


def test_flags() -> None:
    args = bench_main.parse_args(["--quick", "--json", "--chart", "x.png"])
    assert (args.quick, args.json, args.chart) == (True, True, Path("x.png"))
    defaults = bench_main.parse_args([])
    assert (defaults.quick, defaults.json, defaults.chart) == (
        False,
        False,
        bench_main.DEFAULT_CHART,
    )


class BenchWithoutWrk:
    def __init__(self, *args: object) -> None:
        """Takes what Bench takes."""

    def run(self) -> None:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")


def test_missing_wrk_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_main, "Bench", BenchWithoutWrk)
    assert bench_main.main(["--quick"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "bench: wrk is not installed (Debian: apt-get install wrk)\n"
    assert captured.out == "", "no figures when nothing was measured"
