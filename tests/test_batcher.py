"""The batcher's runner threads: several calls of one ONNX Runtime session at once, one for TensorRT."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from inference_server import batcher as batcher_module
from inference_server.batcher import (
    MAX_DEFAULT_RUNNERS,
    Batcher,
    BatchSettings,
    call_threads,
    default_runners,
    runner_count,
)
from inference_server.runtime import EngineError
from inference_server.runtime.onnx_runtime import OnnxRuntime
from tessera.onnx_session import ARENA_QUIET_S, SHARED_ARENA
from tests.support import TINY_STYLE

# Serial pass of `make test`: idle-release timers, RSS kept and handed back, retry gaps.
pytestmark = [pytest.mark.timeout(120), pytest.mark.serial]


class _Watched:
    """A real runtime whose calls are counted while they run (the most at once is kept)."""

    def __init__(self, runtime, concurrent_calls: bool = True) -> None:
        self._runtime = runtime
        self.name = runtime.name
        self.concurrent_calls = concurrent_calls
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0
        self.releases: list[float] = []  # when release_idle was called (time.monotonic)
        self.releases_in_flight = 0  # release_idle calls made while a call ran: there must be none
        self.shrinks: list[float] = []  # when a call asked to hand the arena back (release_memory)

    def execute(self, image, context=None, release_memory=False):
        with self._lock:
            if release_memory:
                self.shrinks.append(time.monotonic())
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            time.sleep(0.02)  # long enough for the other runner to start its call meanwhile
            return self._runtime.execute(image, context, release_memory)
        finally:
            with self._lock:
                self._running -= 1

    def release_idle(self) -> None:
        with self._lock:
            if self._running:  # counted, not asserted: the batcher would swallow an AssertionError
                self.releases_in_flight += 1
            self.releases.append(time.monotonic())

    def finalize(self) -> None:
        self._runtime.finalize()


@pytest.fixture(scope="module")
def onnx_runtime(tiny_registry):
    runtime = OnnxRuntime(tiny_registry / TINY_STYLE / "1" / "model.onnx", threads=1)
    yield runtime
    runtime.finalize()


def _tiles(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, (3, 32, 32 + 4 * (i % 3))).astype(np.float32) for i in range(count)]


def test_two_runners_call_one_session_at_once_and_every_tile_gets_its_own_output(onnx_runtime):
    watched = _Watched(onnx_runtime)
    batcher = Batcher(watched, BatchSettings(runners=2), "test")
    try:
        assert batcher.runners == 2
        tiles = _tiles(12)
        futures = [batcher.submit(tile) for tile in tiles]
        outputs = [future.result(timeout=30) for future in futures]
    finally:
        batcher.close()
    assert watched.most_at_once == 2
    for tile, output in zip(tiles, outputs, strict=True):
        np.testing.assert_allclose(output, onnx_runtime.execute(tile[None])[0], atol=1e-6)


def test_a_runtime_without_concurrent_calls_gets_one_runner(onnx_runtime):
    watched = _Watched(onnx_runtime, concurrent_calls=False)
    batcher = Batcher(watched, BatchSettings(runners=4), "test")
    try:
        assert batcher.runners == 1
        for future in [batcher.submit(tile) for tile in _tiles(6)]:
            future.result(timeout=30)
    finally:
        batcher.close()
    assert watched.most_at_once == 1


def test_close_runs_what_is_queued_and_stops_every_runner(onnx_runtime):
    batcher = Batcher(_Watched(onnx_runtime), BatchSettings(runners=3), "test")
    futures = [batcher.submit(tile) for tile in _tiles(7)]
    batcher.close()
    assert all(future.done() and future.exception() is None for future in futures)
    assert not any(t.name.startswith("batcher-test") and t.is_alive() for t in threading.enumerate())


def test_runners_batch_tiles_of_one_shape_and_stop_inside_a_batch_they_are_collecting(onnx_runtime):
    watched = _Watched(onnx_runtime)
    sizes = []
    batcher = Batcher(watched, BatchSettings(runners=2, max_batch_size=4, max_queue_delay_ms=50), "test",
                      on_batch=sizes.append)
    tiles = [np.full((3, 32, 32), v, np.float32) for v in np.linspace(-0.9, 0.9, 9)]
    futures = [batcher.submit(tile) for tile in tiles]
    batcher.close()  # the stop markers arrive while runners still wait for company
    assert sum(sizes) == 9 and max(sizes) > 1
    for tile, future in zip(tiles, futures, strict=True):
        np.testing.assert_allclose(future.result(timeout=1), onnx_runtime.execute(tile[None])[0], atol=1e-6)


class _Failing:
    name = "failing"
    concurrent_calls = True

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, image, context=None, release_memory=False):
        self.calls += 1
        if self.calls == 1:
            raise EngineError("the runtime failed this batch")
        return image[:1] if self.calls == 2 else image  # the second call returns too few outputs

    def release_idle(self) -> None:
        raise RuntimeError("a runtime that cannot release")

    def finalize(self) -> None:
        pass


def test_a_failed_call_fails_its_own_tiles_and_the_runners_go_on():
    runtime = _Failing()

    def observe(size: int) -> None:
        raise RuntimeError("a broken metrics hook")

    batcher = Batcher(runtime, BatchSettings(runners=1, max_batch_size=2, max_queue_delay_ms=200), "test",
                      on_batch=observe)
    try:
        first = batcher.submit(np.zeros((3, 8, 8), np.float32))
        with pytest.raises(EngineError, match="failed this batch"):
            first.result(timeout=10)
        pair = [batcher.submit(np.zeros((3, 8, 8), np.float32)) for _ in range(2)]
        for future in pair:
            with pytest.raises(EngineError, match="returned 1 outputs for 2 tiles"):
                future.result(timeout=10)
        after = batcher.submit(np.ones((3, 8, 8), np.float32))
        np.testing.assert_array_equal(after.result(timeout=10), np.ones((3, 8, 8), np.float32))
    finally:
        batcher.close()


@pytest.mark.parametrize("threads, runners, cores, expected", [
    (0, 0, 2, 1), (0, 1, 2, 2), (0, 2, 8, 4), (3, 0, 2, 3), (0, 4, 2, 1), (0, 0, 64, 16),
])
def test_each_call_gets_the_cores_shared_among_the_runners(threads, runners, cores, expected):
    assert call_threads(threads, runners, cores) == expected


def test_the_default_is_one_runner_per_core_up_to_a_cap_and_one_where_calls_may_not_overlap(onnx_runtime):
    assert [default_runners(cores) for cores in (1, 2, 64)] == [1, 2, MAX_DEFAULT_RUNNERS]
    assert runner_count(onnx_runtime, 3) == 3
    assert runner_count(_Watched(onnx_runtime, concurrent_calls=False), 0) == 1


def test_a_batcher_idle_for_its_release_time_hands_the_runtimes_memory_back_once(onnx_runtime):
    watched = _Watched(onnx_runtime)
    trims, beside = [], []
    batcher = Batcher(watched, BatchSettings(runners=2), "test", after_runs=trims.append, idle_release_s=0.3,
                      also_release=lambda: beside.append(time.monotonic()))
    try:
        time.sleep(1.0)
        # What the runtime's probes and warm-up kept goes, once, though no tile ran.
        assert len(watched.releases) == 1
        for future in [batcher.submit(tile) for tile in _tiles(6)]:
            future.result(timeout=30)
        finished = time.monotonic()
        time.sleep(1.2)  # four release times: one release, not one per runner or per wait
        assert len(watched.releases) == 2
        assert watched.releases[1] - finished >= 0.3 - 0.05
        assert trims[-1] is True  # the heap is trimmed after the runtime let go of its memory
        batcher.submit(_tiles(1)[0]).result(timeout=30)
        time.sleep(0.8)
        assert len(watched.releases) == 3  # kept again by the new run, released again
        assert watched.releases_in_flight == 0
        assert len(beside) == 3  # what the version keeps beside the runtime (its context model) goes too
    finally:
        batcher.close()


def test_tiles_that_keep_coming_sooner_than_the_release_time_keep_the_memory(onnx_runtime):
    watched = _Watched(onnx_runtime)
    batcher = Batcher(watched, BatchSettings(runners=2), "test", idle_release_s=0.4)
    try:
        ends = time.monotonic() + 1.5
        while time.monotonic() < ends:
            batcher.submit(_tiles(1)[0]).result(timeout=30)
            time.sleep(0.15)  # the queue runs dry between tiles, for less than the release time
        assert watched.releases == []  # not even what was kept before the first tile
    finally:
        batcher.close()


@pytest.mark.parametrize("every", [0.3, 60.0])
def test_under_steady_tiles_one_run_per_arena_release_time_hands_the_arena_back(onnx_runtime, every):
    watched = _Watched(onnx_runtime)
    batcher = Batcher(watched, BatchSettings(runners=1, arena_release_seconds=every), "test")
    try:
        ends = time.monotonic() + 1.3
        while time.monotonic() < ends:
            batcher.submit(_tiles(1)[0]).result(timeout=30)
        if every > 10:
            assert watched.shrinks == []  # 1.3 s of tiles never reach the release time
        else:  # about one in every 0.3 s of the 1.3 s, never two closer than that
            assert 3 <= len(watched.shrinks) <= 5 and all(np.diff(watched.shrinks) >= every)
    finally:
        batcher.close()


def test_by_default_steady_tiles_keep_the_arena_warm(onnx_runtime):
    """No run hands the arena back while tiles keep coming (it cost teacher-26 a quarter of its speed,
    docs/serving.md "Memory"); it goes back once the version is idle (release_idle, tested below)."""
    watched = _Watched(onnx_runtime)
    batcher = Batcher(watched, BatchSettings(runners=2), "test")
    batcher._released_at -= 3600  # as after an hour of serving: any release period has come round
    try:
        ends = time.monotonic() + 1.3
        while time.monotonic() < ends:
            batcher.submit(_tiles(1)[0]).result(timeout=30)
        assert watched.shrinks == [] and watched.releases == []
    finally:
        batcher.close()


def _rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the RSS from Linux's /proc")
def test_onnx_runtime_release_idle_hands_the_arena_back(onnx_runtime):
    """A 1024 px tile of the tiny model leaves its buffers (about 400 MiB) in the shared arena for the
    next run; release_idle's small run hands them back to the OS, and the runtime still paints."""
    big = np.random.default_rng(0).uniform(-1, 1, (1, 3, 1024, 1024)).astype(np.float32)
    onnx_runtime.execute(big[:, :, :64, :64])  # the smallest run so far: release_idle's shape
    time.sleep(ARENA_QUIET_S)
    onnx_runtime.release_idle()
    before = _rss_mib()
    first = onnx_runtime.execute(big)
    kept = _rss_mib() - before
    time.sleep(ARENA_QUIET_S)
    with SHARED_ARENA.running():  # another version's run in flight: the arena stays
        assert onnx_runtime.release_idle() is False
    assert _rss_mib() - before > kept * 0.9
    assert onnx_runtime.release_idle() is False  # under ARENA_QUIET_S after that run: still kept
    assert _rss_mib() - before > kept * 0.9
    time.sleep(ARENA_QUIET_S)
    assert onnx_runtime.release_idle() is True
    after = _rss_mib() - before
    assert kept > 150, f"the run kept only {kept:.0f} MiB: the test would show nothing"
    assert after < kept * 0.3, f"kept {kept:.0f} MiB, still {after:.0f} MiB after release_idle"
    assert np.array_equal(onnx_runtime.execute(big), first)


@pytest.mark.parametrize("graph", ["model", "context", "whole"])
def test_release_idle_runs_the_smallest_shape_each_graph_took(graph):
    """A conditioned version's graphs take several inputs and sides of a size multiple; release_idle
    repeats the smallest run's shapes, which the graph is known to take (teacher-26's three graphs)."""
    version = Path(__file__).resolve().parents[1] / "model_registry" / "teacher-26" / "5"
    rng = np.random.default_rng(1)
    code = np.eye(26, dtype=np.float32)[[4]]
    runtime = OnnxRuntime(version / f"{graph}.onnx", threads=1,
                          output="context" if graph == "context" else "stylized",
                          context_input="style_code" if graph == "whole" else "context")
    assert runtime.release_idle() is True  # never ran: nothing to repeat, nothing raised
    picture = rng.uniform(-1, 1, (1, 3, 44, 60)).astype(np.float32)
    if graph == "context":
        runtime.run_named({"thumbnail": picture, "style_code": code})
    elif graph == "whole":
        runtime.execute(picture, code)
    else:
        context = OnnxRuntime(version / "context.onnx", threads=1, output="context").run_named(
            {"thumbnail": picture, "style_code": code})
        runtime.execute(picture, context)
    time.sleep(ARENA_QUIET_S)
    assert runtime.release_idle() is True  # its run in the smallest shape went through (a wrong shape raises)


class _BusyArena:
    """A runtime whose first `refusals` idle releases find the process busy (release_idle: False)."""

    name = "busy-arena"
    concurrent_calls = True

    def __init__(self, refusals: int) -> None:
        self.answers = [False] * refusals
        self.asked: list[float] = []  # when release_idle was called (time.monotonic)

    def execute(self, image, context=None, release_memory=False):
        return image

    def release_idle(self) -> bool:
        self.asked.append(time.monotonic())
        return self.answers.pop(0) if self.answers else True

    def finalize(self) -> None:
        pass


def test_an_idle_release_the_process_was_too_busy_for_is_asked_again_until_it_happens(monkeypatch):
    """Until 2026-12-04 a refused release waited for the version's next traffic, so an idle server could
    keep a version's memory for good; now it is asked again after RELEASE_RETRY_S (then twice as long,
    up to the idle time), and no more once done."""
    monkeypatch.setattr(batcher_module, "RELEASE_RETRY_S", 0.2)
    runtime = _BusyArena(refusals=2)
    batcher = Batcher(runtime, BatchSettings(runners=2), "test", idle_release_s=0.3)
    try:
        batcher.submit(np.zeros((3, 8, 8), np.float32)).result(timeout=10)
        deadline = time.monotonic() + 10
        while len(runtime.asked) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # several retry periods: a release that happened is not asked again
        assert len(runtime.asked) == 3, runtime.asked
        gaps = np.diff(runtime.asked)
        assert all(0.15 < gap < 1.0 for gap in gaps), gaps
    finally:
        batcher.close()


def test_refused_releases_are_asked_again_less_and_less_often_up_to_the_idle_time(monkeypatch):
    """An idle version beside one that serves for hours has its release refused all that time: asked
    every RELEASE_RETRY_S, it woke a runner every 2 s for ever; now the wait doubles up to the idle time.
    Each gap is at least its pause (a late wake-up on a loaded machine only lengthens one), and the last
    ones stay near the idle time, where doubling on would give 1.6 and 3.2 s."""
    monkeypatch.setattr(batcher_module, "RELEASE_RETRY_S", 0.1)
    runtime = _BusyArena(refusals=6)
    batcher = Batcher(runtime, BatchSettings(runners=2), "test", idle_release_s=0.4)
    try:
        deadline = time.monotonic() + 15
        while len(runtime.asked) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        gaps = np.diff(runtime.asked)
        assert len(gaps) == 6, runtime.asked
        for gap, pause in zip(gaps, (0.1, 0.2, 0.4, 0.4, 0.4, 0.4), strict=True):
            assert gap >= pause - 0.02, gaps
        assert gaps[4] < 1.2 and gaps[5] < 1.2, gaps
    finally:
        batcher.close()


def test_a_runner_does_not_spin_while_another_runs_a_tile_past_a_refused_releases_retry_time(monkeypatch):
    """Its wait for a tile was the time left to the retry, 0 once that passed while the other runner
    was busy, so it looped on an empty queue for the whole tile (a review counted 795,667 looks at the
    release during a 1.5 s tile: a core)."""
    monkeypatch.setattr(batcher_module, "RELEASE_RETRY_S", 0.1)
    runtime = _SlowTiles(refusals=1_000_000)
    batcher = Batcher(runtime, BatchSettings(runners=2), "test", idle_release_s=0.2)
    looks = []
    original = batcher._release_if_idle
    monkeypatch.setattr(batcher, "_release_if_idle", lambda: (looks.append(1), original())[1])
    try:
        deadline = time.monotonic() + 10
        while len(runtime.asked) < 2 and time.monotonic() < deadline:  # a refusal, and its retry pending
            time.sleep(0.02)
        before = len(looks)
        batcher.submit(np.zeros((3, 8, 8), np.float32)).result(timeout=10)  # 1 s inside the runtime
        assert len(looks) - before < 50, len(looks) - before
    finally:
        batcher.close()


class _SlowTiles(_BusyArena):
    def execute(self, image, context=None, release_memory=False):
        time.sleep(1.0)
        return image


class _ReleaseThatRaises(_BusyArena):
    def release_idle(self) -> bool:
        self.asked.append(time.monotonic())
        raise RuntimeError("cannot release")


def test_only_refused_releases_are_asked_again_and_one_that_raised_is_logged_once(monkeypatch, caplog):
    """A runtime whose release raised, beside a context model whose release was refused, was asked
    again at every retry and filled the log with the same traceback; now only the refused one is."""
    monkeypatch.setattr(batcher_module, "RELEASE_RETRY_S", 0.1)
    runtime, context = _ReleaseThatRaises(refusals=0), _BusyArena(refusals=3)
    batcher = Batcher(runtime, BatchSettings(runners=1), "test", idle_release_s=0.2,
                      also_release=context.release_idle)
    try:
        deadline = time.monotonic() + 10
        while len(context.asked) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(context.asked) == 4 and len(runtime.asked) == 1, (context.asked, runtime.asked)
        assert [r.getMessage() for r in caplog.records].count("runtime failed to release its idle memory") == 1
        assert batcher.submit(np.zeros((3, 8, 8), np.float32)).result(timeout=10).shape == (3, 8, 8)
        deadline = time.monotonic() + 10
        while len(runtime.asked) < 2 and time.monotonic() < deadline:  # owed again after the run
            time.sleep(0.05)
        assert len(runtime.asked) == 2
    finally:
        batcher.close()


def test_a_version_and_its_context_model_both_release_and_then_stop_asking(tiny_registry, monkeypatch):
    """The batcher releases the tiles' runtime, then the context model (also_release). A shrink's own run
    once counted as the arena's use, so the context model's release right after it was refused for
    good, and asked again every RELEASE_RETRY_S for ever (a review found it)."""
    monkeypatch.setattr(batcher_module, "RELEASE_RETRY_S", 0.4)
    model = tiny_registry / TINY_STYLE / "1" / "model.onnx"
    tiles, context = OnnxRuntime(model, threads=1), OnnxRuntime(model, threads=1)
    answers: list[tuple[str, bool]] = []

    def recorded(name, release):
        def call() -> bool:
            answers.append((name, release()))
            return answers[-1][1]
        return call

    context.execute(_tiles(1)[0][None])  # it ran, so it has something to hand back
    monkeypatch.setattr(tiles, "release_idle", recorded("tiles", tiles.release_idle))
    batcher = Batcher(tiles, BatchSettings(runners=1), "test", idle_release_s=0.2,
                      also_release=recorded("context", context.release_idle))
    try:
        batcher.submit(_tiles(1)[0]).result(timeout=30)
        deadline = time.monotonic() + 10
        while answers[-2:] != [("tiles", True), ("context", True)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answers[-2:] == [("tiles", True), ("context", True)], answers
        done = len(answers)
        time.sleep(1.5)  # several retry periods
        assert len(answers) == done, answers[done:]
    finally:
        batcher.close()
        tiles.finalize()
        context.finalize()


def test_a_runtime_that_fails_to_release_keeps_its_runners():
    runtime = _Failing()
    runtime.calls = 2  # past the failing calls: it echoes its input
    batcher = Batcher(runtime, BatchSettings(runners=1), "test", idle_release_s=0.1)
    try:
        batcher.submit(np.zeros((3, 8, 8), np.float32)).result(timeout=10)
        time.sleep(0.4)  # release_idle raised in the runner thread
        assert batcher.submit(np.ones((3, 8, 8), np.float32)).result(timeout=10).shape == (3, 8, 8)
    finally:
        batcher.close()


def test_runs_outside_the_batcher_are_released_after_the_idle_time_too(onnx_runtime):
    """Warm-up runs the runtime directly: ran_outside starts the idle clock, so what they kept goes back
    even though no tile follows, and not before the idle time has passed."""
    watched = _Watched(onnx_runtime)
    batcher = Batcher(watched, BatchSettings(runners=2), "test", idle_release_s=0.3)
    try:
        time.sleep(0.6)
        assert len(watched.releases) == 1  # what loading kept
        warmed = time.monotonic()
        watched.execute(_tiles(1)[0][None])  # a warm-up run
        batcher.ran_outside()
        time.sleep(0.15)
        assert len(watched.releases) == 1
        time.sleep(0.5)
        assert len(watched.releases) == 2 and watched.releases[1] - warmed >= 0.3 - 0.05
        assert batcher.submit(_tiles(1)[0]).result(timeout=30).shape == (3, 32, 32)  # the wake-up left no trace
    finally:
        batcher.close()
