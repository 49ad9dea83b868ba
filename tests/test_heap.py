"""When the server hands freed heap memory back (tessera.heap.HeapTrimmer): whenever a queue runs dry,
and under load that never lets one run dry, every `interval` seconds (docs/serving.md, "Memory")."""

from __future__ import annotations

import time

import pytest

from tessera import heap


@pytest.fixture
def trims(monkeypatch) -> list[float]:
    """Times of each malloc_trim the trimmer makes (the real one still runs)."""
    times: list[float] = []
    real = heap.release_freed_memory

    def counted() -> None:
        times.append(time.monotonic())
        real()

    monkeypatch.setattr(heap, "release_freed_memory", counted)
    return times


def test_a_queue_running_dry_trims_at_once(trims):
    trimmer = heap.HeapTrimmer(interval=60.0)
    trimmer.after_work(idle=True)
    trimmer.after_work(idle=True)
    assert len(trims) == 2


@pytest.mark.serial  # serial pass of `make test`: counts trims in 0.55 s
def test_steady_load_trims_once_per_interval(trims):
    trimmer = heap.HeapTrimmer(interval=0.1)
    started = time.monotonic()
    while time.monotonic() - started < 0.55:  # a queue that never runs dry, one run per millisecond
        trimmer.after_work(idle=False)
        time.sleep(0.001)
    assert 4 <= len(trims) <= 6, trims
    # The trimmer decides on the clock it reads before taking its lock; `trims` holds the clock read
    # later, when the trim runs, so two records can sit up to that lag (microseconds, a millisecond
    # under load) closer than the interval. A trimmer that ignored the interval would trim every
    # millisecond here.
    assert all(b - a >= 0.1 - 0.002 for a, b in zip(trims, trims[1:], strict=False)), trims


def test_interval_zero_trims_only_when_a_queue_runs_dry(trims):
    trimmer = heap.HeapTrimmer(interval=0.0)
    for _ in range(100):
        trimmer.after_work(idle=False)
    assert trims == []
    trimmer.after_work(idle=True)
    assert len(trims) == 1
