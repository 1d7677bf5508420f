"""The load client: wrk's JSON line, and the loopback-only rule."""

from pathlib import Path

import pytest

from bench.load import LoadError, UploadLoad, parse_wrk_output
from bench.multipart import envelope

WRK_LINE = (
    '{"requests":200,"duration_us":4000000,"connect_errors":1,"read_errors":0,'
    '"write_errors":0,"status_errors":2,"timeouts":3,"p50_us":12500,"p95_us":30000,'
    '"p99_us":45000,"mean_us":15000.0,"max_us":60000}'
)


def test_parse_wrk_output_converts_units_and_sums_errors() -> None:
    result = parse_wrk_output(f"some banner\n{WRK_LINE}\n", concurrency=4, client_cpu_seconds=0.5)
    assert result.requests_per_second == pytest.approx(50.0)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (12.5, 30.0, 45.0)
    assert result.errors == 6, "connect + status + timeout errors"
    assert result.client_cpu_seconds == 0.5


def test_no_result_line_is_an_error() -> None:
    with pytest.raises(LoadError, match="no result"):
        parse_wrk_output("wrk: connection refused\n", concurrency=1, client_cpu_seconds=0)


@pytest.mark.parametrize("url", ["http://example.com:80", "http://10.0.0.1:8080"])
def test_load_only_targets_loopback(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        UploadLoad(url, envelope("a.png", "image/png"), b"x", tmp_path, "bench-owner-key")
