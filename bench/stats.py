"""Small statistics for noisy repeated runs: median with range, and a linear trend."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of repeated runs and the range they covered."""

    median: float
    low: float
    high: float

    def scaled(self, factor: float) -> Spread:
        return Spread(self.median * factor, self.low * factor, self.high * factor)


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values to summarise")
    return Spread(statistics.median(values), min(values), max(values))


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs: the trend of a series (0 for a flat one)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a trend needs at least two (x, y) points")
    return statistics.linear_regression(xs, ys).slope
