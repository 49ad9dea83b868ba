"""The 20-second version of `make soak` (scripts/soak.py): after a 30 s warm-up, 20 s of 8 clients
through the gateway and gRPC with no failed call, and the gateway's RSS within 5% (medians of the
last 10 s of the warm-up and of the run).

The server's RSS is reported but not held to 5% here: since it serves from one ONNX Runtime arena
released once every 5 s (5d286c6), its 10-s medians swing by about 20% either way within 20 s
(-20% and +19% in two runs on the same code, 2026-11-30), so a check this short would fail at
random. `make soak` (10 minutes) is the server's check, by the trend of all its readings after a
120-s warm-up (scripts/soak.py, `trend_growth`), since even its 30-s medians swing +-10% with the
arena. Before that arena, with the heap
trimmed only when a queue ran dry (1aeb4a4), the server grew +7.9% in these 20 s (327.5 -> 353.3
MB): docs/reliability.md, "Load and soak"."""

from __future__ import annotations

import numpy as np
import pytest

from scripts import soak

# Serial pass of `make test`: soak: load for seconds, gateway RSS growth held to a bound.
pytestmark = pytest.mark.serial


def test_twenty_seconds_of_load_have_no_errors_and_stable_gateway_memory():
    report = soak.soak(duration=50, warmup=30)
    assert all(path["calls"] > 0 and path["errors"] == 0 for path in report["paths"].values()), report["paths"]
    assert report["rss"]["gateway"]["growth_after_warmup"] <= soak.MAX_RSS_GROWTH, report["rss"]


def _readings(leak_per_run: float, seed: int) -> list[tuple[float, float]]:
    """600 one-second RSS readings around 290 MB: a swing of +-50 MB (tiles and arena blocks in flight,
    as measured on the server) plus a linear rise of `leak_per_run` of the level over the run."""
    rng = np.random.default_rng(seed)
    times = np.arange(600.0)
    swing = rng.uniform(-50, 50, times.size) + 20 * np.sin(times / 45)  # single readings and minute-long waves
    return list(zip(times, 290 * (1 + leak_per_run * times / 600) + swing, strict=True))


def test_the_trend_passes_a_flat_swing_and_fails_a_leak():
    """The waves (+-20 MB over minutes) move the fitted rise by up to about 3% either way: the trend is
    steadier than two windows, not exact, so the leak here is 12% over the run (9.6% after the warm-up)."""
    flat = [soak.trend_growth(_readings(0.0, seed), 120, 600) for seed in range(5)]
    leaking = [soak.trend_growth(_readings(0.12, seed), 120, 600) for seed in range(5)]
    assert all(abs(growth) < soak.MAX_RSS_GROWTH for growth in flat), flat
    assert all(growth > soak.MAX_RSS_GROWTH for growth in leaking), leaking


def test_the_trend_needs_readings():
    with pytest.raises(ValueError, match="needs 3"):
        soak.trend_growth([(1.0, 100.0), (2.0, 101.0)], 0, 10)
