"""Interleaved timing: every path runs once per round, in turn (A, B, C, A, B, C, ...), so a change in
the machine's load hits all of them alike, and ratios are taken within a round before the median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(paths: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                alternate: bool = False) -> dict[str, list[float]]:
    """Seconds of each path per round: `warmup` untimed runs of each first (sessions warm, caches
    full), then `rounds` timed rounds in which each path runs once, in the given order, or with
    `alternate` in reverse order every other round (A B, B A, A B, ...), so that a load rising or
    falling steadily through the run favours neither path."""
    for _ in range(warmup):
        for run in paths.values():
            run()
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for index in range(rounds):
        order = list(paths.items())
        for name, run in reversed(order) if alternate and index % 2 else order:
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator[i] / denominator[i] (same round, same load)."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy's default does."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
