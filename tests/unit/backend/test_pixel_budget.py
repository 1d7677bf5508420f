"""The per-worker pixel budget: declared pixels being decoded at once stay under it."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from canny.errors import ServerBusyError
from canny.pixel_budget import PixelBudget


def peak_in_use(budget: PixelBudget, requests: list[int]) -> int:
    """Run the reservations from parallel threads, each holding briefly; the peak seen."""
    peak = 0
    lock = threading.Lock()

    def hold(pixels: int) -> None:
        nonlocal peak
        with budget.reserve(pixels):
            with lock:
                peak = max(peak, budget.in_use)
            time.sleep(0.02)

    with ThreadPoolExecutor(len(requests)) as pool:
        list(pool.map(hold, requests))
    assert budget.in_use == 0, "every reservation is given back"
    return peak


def test_concurrent_reservations_never_exceed_the_capacity() -> None:
    budget = PixelBudget(36_000_000)
    assert peak_in_use(budget, [36_000_000] * 24) == 36_000_000, "one 6000x6000 at a time"


def test_small_images_share_the_budget() -> None:
    assert peak_in_use(PixelBudget(10_000_000), [2_000_000] * 8) == 10_000_000


def test_an_image_larger_than_the_budget_runs_alone_instead_of_never() -> None:
    assert peak_in_use(PixelBudget(1_000), [40_000_000, 500, 500]) == 1_000


def test_a_budget_needs_a_positive_capacity() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PixelBudget(0)


def test_a_wait_longer_than_its_timeout_is_a_fast_busy_answer() -> None:
    """The probe's uploads waited here without bound behind one client's large images."""
    budget = PixelBudget(1_000)
    with budget.reserve(1_000):
        started = time.monotonic()
        with pytest.raises(ServerBusyError), budget.reserve(10, timeout=0.2):
            pass
        assert time.monotonic() - started < 2
    assert budget.in_use == 0
