"""Median with range, and the trend used for 'worker RSS stays flat'."""

import pytest

from bench.stats import Spread, slope, spread


@pytest.mark.parametrize(
    ("values", "expected"),
    [([5.0], Spread(5, 5, 5)), ([3.0, 1.0, 2.0], Spread(2, 1, 3)), ([4.0, 1.0], Spread(2.5, 1, 4))],
)
def test_spread(values: list[float], expected: Spread) -> None:
    assert spread(values) == expected


def test_spread_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        spread([])


@pytest.mark.parametrize(
    ("ys", "expected"),
    [([70, 70, 70, 70], 0.0), ([70, 72, 74, 76], 0.02), ([80, 78, 76, 74], -0.02)],
)
def test_slope_per_unit_of_x(ys: list[float], expected: float) -> None:
    assert slope([0, 100, 200, 300], ys) == pytest.approx(expected)


def test_slope_needs_two_points() -> None:
    with pytest.raises(ValueError, match="two"):
        slope([1], [1])


def test_scaled_spread() -> None:
    assert Spread(1, 0.5, 2).scaled(1000) == Spread(1000, 500, 2000)
