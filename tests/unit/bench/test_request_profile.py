"""bench.request_profile prints where a worker's and its pipeline child's CPU goes."""

from __future__ import annotations

import time

import pytest

from bench import request_profile


def _inner() -> None:
    deadline = time.process_time() + 0.002
    while time.process_time() < deadline:
        pass


def _outer() -> None:
    _inner()
    _inner()


def test_a_step_is_the_cumulative_cpu_of_its_function_per_call() -> None:
    step = ("inner", "tests/unit/bench/test_request_profile.py", "_inner")
    whole = ("tests/unit/bench/test_request_profile.py", "_outer")
    result = request_profile.profile(_outer, 10, (step,), whole)
    assert 3.5 <= result.steps["inner"] <= result.profiled_ms
    assert result.unprofiled_ms >= 3.5


def test_the_tables_name_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert request_profile.main(["--lookups", "5", "--uploads", "5", "--without-quotas"]) == 0
    printed = capsys.readouterr().out
    for title in ("lookup (worker)", "480p JPEG upload (worker)", "1080p JPEG in the child"):
        assert title in printed
    for label, _, _ in (*request_profile.WORKER_STEPS, *request_profile.CHILD_STEPS):
        assert label in printed
    lookup = _table(printed, "lookup (worker)")
    upload = _table(printed, "480p JPEG upload (worker)")
    assert lookup["multipart parsing"] == 0 < upload["multipart parsing"]
    assert upload["hand-over to the child and wait (worker side)"] > 0


def _table(printed: str, title: str) -> dict[str, float]:
    """The milliseconds of each row of the table under `title`."""
    rows = printed.split(f"\n{title}:")[1].split("\n\n")[0].splitlines()[1:]
    return {row[:50].strip(): float(row[50:].split()[0]) for row in rows}
