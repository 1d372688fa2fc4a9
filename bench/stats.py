"""Summaries of measured latencies: percentiles in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` (0 to 1) of ``values`` lie, by the nearest rank.

    The nearest rank is always a value that was measured: the p99 of 200 latencies is the
    second slowest, never a blend of two.
    """
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """How long messages took from sender to receivers, in milliseconds."""

    p50: float
    p99: float
    max: float
    count: int


def summarize(seconds: Sequence[float]) -> Latency | None:
    """The p50, p99 and max of latencies measured in seconds; None if there are none."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    return Latency(
        p50=round(percentile(ordered, 0.50) * 1000, 2),
        p99=round(percentile(ordered, 0.99) * 1000, 2),
        max=round(ordered[-1] * 1000, 2),
        count=len(ordered),
    )


def rate(count: int, seconds: float) -> float | None:
    """``count`` per second over ``seconds``; None when no time passed."""
    return round(count / seconds, 1) if seconds > 0 else None
