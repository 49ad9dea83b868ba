"""Warm a freshly loaded version before it takes traffic, so the first requests after a load or a
swap run at full speed.

A new ONNX Runtime session is slow on its first runs of a shape (allocations, kernel selection,
caches): measured here the first two runs of a 512 px tile took about 35% longer than the third.
So a version runs its typical tile (the server's default tile size with the model's halo, batch 1)
at least three times (`MIN_RUNS`, or `max_runs` if fewer), whatever they take: under load two runs
can outlast the budget, and a version that stopped there would serve its first tiles cold. Then it
runs until two runs in a row agree within `settle`, at most `max_runs` runs, and starts no further run
once `budget_seconds` have passed since the first (a run started inside the budget finishes). The store
warms only the version about to serve a style, so older versions cost nothing at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inference_server.probe_tiles import photo_like
from tessera.tiling import DEFAULT_TILE_SIZE, halo_for

log = logging.getLogger(__name__)

# Runs a warm-up always makes (unless max_runs is lower): a fresh session's first two are the slow ones.
MIN_RUNS = 3


@dataclass(frozen=True)
class WarmUp:
    """How a version is warmed: `max_runs` 0 turns warming off."""

    max_runs: int = 5
    tile_size: int = DEFAULT_TILE_SIZE
    settle: float = 0.1
    budget_seconds: float = 5.0


def warm_up(run_tile: Callable[[np.ndarray], object], halo: int, size_multiple: int, settings: WarmUp) -> list[float]:
    """Run `run_tile` (HxWx3 uint8 -> anything) on a typical tile until its time settles; return
    the seconds each run took."""
    if settings.max_runs < 1:
        return []
    edge = settings.tile_size + 2 * halo_for(halo, size_multiple)
    tile = photo_like(edge, edge, seed=11)
    times: list[float] = []
    deadline = time.monotonic() + settings.budget_seconds
    while len(times) < settings.max_runs and (len(times) < MIN_RUNS or time.monotonic() < deadline):
        started = time.perf_counter()
        run_tile(tile)
        times.append(time.perf_counter() - started)
        if len(times) >= MIN_RUNS and abs(times[-1] - times[-2]) <= settings.settle * min(times[-2:]):
            break
    return times
