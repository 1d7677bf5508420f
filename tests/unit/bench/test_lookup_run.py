"""Bench._lookup_run: a lookup run is counted per request, and a miss fails the bench."""

import pytest

from bench.load import LoadError, LoadResult
from bench.measure import Bench
from bench.plan import QUICK


class FakeService:
    """Server CPU that grows by 0.01 s at each reading."""

    def __init__(self) -> None:
        self.cpu = 0.0

    def wait_until_idle(self) -> None:
        """Always idle."""

    def cpu_seconds(self) -> float:
        self.cpu += 0.01
        return self.cpu


class FakeLookup:
    def __init__(self, errors: int) -> None:
        self.errors = errors

    def run(self, concurrency: int, requests: int, max_seconds: float = 120) -> LoadResult:
        return LoadResult(concurrency, requests, 1.0, self.errors, 1.0, 1.5, 2.0, 1.1, 0.05)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    return Bench(QUICK, tmp_path_factory.mktemp("bench"), lambda line: None)


def test_a_lookup_run_counts_every_answer(bench: Bench) -> None:
    requests_before = bench.data.client_requests
    run = bench._lookup_run(FakeService(), FakeLookup(errors=0))
    assert run.images == QUICK.cached_requests
    assert run.server_cpu_seconds == pytest.approx(0.01)
    assert bench.data.client_requests - requests_before == QUICK.cached_requests


def test_a_lookup_that_missed_fails_the_bench(bench: Bench) -> None:
    with pytest.raises(LoadError, match="3 of 100 lookups failed or missed"):
        bench._lookup_run(FakeService(), FakeLookup(errors=3))
