"""Dynamic batching: tiles from any stream, of the same shape, run together, on `runners` threads.

Settings follow Triton's dynamic batcher: `max_batch_size` tiles per run, and a tile waits at most
`max_queue_delay_ms` for company before it runs alone. Like Triton's instance groups, several runner
threads take batches from one queue and call the runtime at once, each call with fewer intra-op
threads: on this 2-core CPU two one-thread calls of Blue Ink v9 did 1.25x the tiles of one
two-thread call (`python -m scripts.version_speed model_registry/blue-ink/9 --arrangement 1x2
--arrangement 2x1`; docs/serving.md, "Runners"), because much of a student's time is in
memory-bound operators (instance norm, padding, layout reorders) that one call's threads share poorly.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from inference_server.runtime import EngineError, Runtime
from tessera.number_checks import finite_float
from tessera.settings import setting

log = logging.getLogger(__name__)
_STOP = object()
_WAKE = object()  # sent by ran_outside: a runner waiting without a timeout starts the idle clock
# While tiles keep coming, the shared ONNX Runtime arena keeps its pages warm (tessera/onnx_session.py):
# reusing them is what makes the arena worth having (2.4x the speed of fresh pages for every run). What it
# keeps goes back once the version has run nothing for IDLE_RELEASE_S and the process's other sessions
# are quiet (Runtime.release_idle, inference_server/runtime/onnx_runtime.py). Until
# 2026-12-04 one run in every 5 s of serving also handed it back: each next run of every runner then
# faulted its pages in again, which cost a 6 MP photo of teacher-26 through the client a quarter of its
# speed (docs/serving.md, "Memory"). `--arena-release-seconds` still sets such a period, for a server
# whose traffic never pauses and whose memory must still fall back between runs; 0 (the default): never.
RELEASE_MEMORY_EVERY_S = 0.0
# The shortest such period: below it a release would follow nearly every run, as without an arena.
MIN_RELEASE_PERIOD_S = 0.1
# A batcher that has run nothing for this long hands its runtime's kept memory back
# (Runtime.release_idle: ONNX Runtime's shared arena, OpenVINO's activation memory, docs/serving.md
# "Engines"): an idle version then holds none, while a person's next photo or style, some seconds later,
# finds it warm: the first tiles after a release run up to about 1.4x slower, faulting their pages in
# again (scripts/release_cost.py).
IDLE_RELEASE_S = 30.0
# An idle release that could not happen (Runtime.release_idle returned False: another version was using
# the shared arena, or OpenVINO had a request in flight) is asked again this much later, then twice as
# long after each further refusal up to IDLE_RELEASE_S, until it happens or the version runs again:
# before 2026-12-04 it waited for the version's next traffic, and an idle server could keep a version's
# memory for good. Only the refused releases are asked again; one that raised is logged once and not
# asked again until the version runs.
RELEASE_RETRY_S = 2.0
MAX_DEFAULT_RUNNERS = 4


def release_period(text: str) -> float:
    """`--arena-release-seconds` from its text: 0 (never while serving) or at least MIN_RELEASE_PERIOD_S
    seconds. Raises ValueError, with a sentence, for text that is no finite number or a period between."""
    value = finite_float(text)
    if value < 0:
        raise ValueError(f"{text.strip()} is below the minimum of 0")  # as typed, as settings' own checks say
    if 0 < value < MIN_RELEASE_PERIOD_S:
        raise ValueError(f"{text.strip()} s would hand the arena back after nearly every run; use 0 (only when idle) "
                         f"or at least {MIN_RELEASE_PERIOD_S} s")
    return value


@dataclass(frozen=True)
class BatchSettings:
    # 1 on the CPU: in `make bench` (docs/serving.md, 2026-11-30) batching up to 4 tiles gave no more
    # throughput at 1, 4 or 16 clients and a higher p99; raise it for GPU runtimes.
    max_batch_size: int = setting(1, "tiles of one shape per runtime call", minimum=1)
    max_queue_delay_ms: float = setting(2.0, "how long a tile waits for company, in milliseconds", minimum=0)
    runners: int = setting(0, f"runtime calls of one model at once, each on its own thread; 0 = one per core, "
                              f"at most {MAX_DEFAULT_RUNNERS}, where the runtime allows concurrent calls "
                              f"(ONNX Runtime), else 1", minimum=0)
    arena_release_seconds: float = setting(RELEASE_MEMORY_EVERY_S, f"0, or at least {MIN_RELEASE_PERIOD_S:g}: while "
                                           "serving, one run in this many seconds hands the shared arena's spare "
                                           "memory back, and the next runs fault their pages in again; 0: only "
                                           "once the version is idle (docs/serving.md, Memory)",
                                           parse=release_period)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_runners(cores: int | None = None) -> int:
    """Runners when `--runners` is 0: one per core, at most MAX_DEFAULT_RUNNERS (a container without a
    CPU limit sees every core of its node, and each runner holds a tile's activations)."""
    return max(1, min(cores or usable_cores(), MAX_DEFAULT_RUNNERS))


def call_threads(threads: int, runners: int, cores: int | None = None) -> int:
    """Intra-op threads for each runtime call: `threads` when set, else the cores shared among the
    runners (0 runners = default_runners), at least 1."""
    if threads:
        return threads
    cores = cores or usable_cores()
    return max(1, cores // (runners or default_runners(cores)))


class _NoGauge:
    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass


@dataclass(frozen=True)
class TileGauges:
    """Where the batcher reports tiles waiting and tiles inside a runtime call (anything with inc/dec)."""

    queued: object = _NoGauge()
    in_flight: object = _NoGauge()


@dataclass
class _Item:
    image: np.ndarray  # 3xHxW float32
    context: np.ndarray | None  # K float32
    future: Future


class Batcher:
    """Owns one runtime's queue and the runner threads that feed it: `settings.runners` of them (0 =
    default_runners(): one per core, at most MAX_DEFAULT_RUNNERS) when the runtime says it takes
    concurrent calls (`concurrent_calls`), else one."""

    def __init__(self, runtime: Runtime, settings: BatchSettings, name: str,
                 on_batch: Callable[[int], None] | None = None, gauges: TileGauges | None = None,
                 after_runs: Callable[[bool], None] | None = None, idle_release_s: float = IDLE_RELEASE_S,
                 also_release: Callable[[], bool] | None = None) -> None:
        self._runtime = runtime
        self._settings = settings
        self._on_batch = on_batch
        self._gauges = gauges or TileGauges()
        # Called from a runner thread after each round of runs, with whether the batcher is idle (its
        # queue empty and no runner inside a call).
        self._after_runs = after_runs
        self._queue: queue.Queue = queue.Queue()
        self._released_at = time.monotonic()
        self._lock = threading.Lock()  # the release timers and the count of busy runners
        self._busy = 0
        # When the last run ended, and whether the runtime may keep memory since the last release_idle
        # (at first, what its probes and warm-up runs left).
        self._idle_release_s = idle_release_s
        self._last_run_end = time.monotonic()
        # The idle releases owed since the last run: the runtime's and `also_release` (the memory the
        # version keeps beside it, its context model's), then those refused so far (empty: none owed).
        # After a refusal, the time.monotonic() from which a runner asks again (0.0: none refused since
        # the last run) and the wait before the next retry.
        self._releases = tuple(r for r in (runtime.release_idle, also_release) if r is not None)
        self._owed = self._releases
        self._retry_at, self._retry_wait = 0.0, RELEASE_RETRY_S
        self._threads = [threading.Thread(target=self._loop, name=f"batcher-{name}-{i}", daemon=True)
                         for i in range(runner_count(runtime, settings.runners))]
        for thread in self._threads:
            thread.start()

    @property
    def runners(self) -> int:
        """How many runtime calls this batcher makes at once."""
        return len(self._threads)

    def submit(self, image: np.ndarray, context: np.ndarray | None = None) -> Future:
        """Queue one 3xHxW tile; the future resolves to its 3xHxW output."""
        future: Future = Future()
        self._gauges.queued.inc()
        self._queue.put(_Item(image, context, future))
        return future

    def ran_outside(self) -> None:
        """The runtime ran outside this batcher (warm-up runs): what it kept is handed back once the
        batcher has run nothing for IDLE_RELEASE_S from now, as after its own runs."""
        with self._lock:
            self._ran()
        self._queue.put(_WAKE)

    def close(self) -> None:
        """Run what is queued, then stop the runner threads."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._release_wait())
            except queue.Empty:
                self._release_if_idle()
                continue
            if first is _WAKE:
                continue
            if first is _STOP:
                return
            self._gauges.queued.dec()
            with self._lock:
                self._busy += 1
            items, stopping = self._collect(first)
            for group in _group_by_shape(items):
                self._run(group)
            del items, group  # drop the last batch's arrays before after_runs looks at the heap
            with self._lock:
                self._busy -= 1
                idle = self._busy == 0 and self._queue.empty()
                self._ran()
            if self._after_runs is not None:
                self._after_runs(idle)

    def _ran(self) -> None:
        """The runtime just ran (call under the lock): every idle release is owed again."""
        self._last_run_end = time.monotonic()
        self._owed, self._retry_at, self._retry_wait = self._releases, 0.0, RELEASE_RETRY_S

    def _release_wait(self) -> float | None:
        """How long a runner waits for a tile before it looks at the idle release; None: for ever, also
        while another runner is inside a call (it looks at the release when that call ends: a wait of 0
        until then would spin)."""
        with self._lock:
            if not self._owed or self._busy:
                return None
            if not self._retry_at:
                return self._idle_release_s
            return max(MIN_RELEASE_PERIOD_S, self._retry_at - time.monotonic())

    def _release_if_idle(self) -> None:
        """After a runner waited IDLE_RELEASE_S for a tile: if no runner has run one for that long
        either, the runtime hands its kept memory back, and the freed heap goes to the OS. The releases
        the runtime could not make now (they returned False) are asked again after RELEASE_RETRY_S,
        then after twice as long each time, up to IDLE_RELEASE_S."""
        with self._lock:
            now = time.monotonic()
            quiet = now - self._last_run_end >= self._idle_release_s
            if not (self._owed and quiet and self._busy == 0 and now >= self._retry_at):
                return
            owed, self._owed = self._owed, ()
        refused = tuple(release for release in owed if not _released(release))
        if refused:  # the heap is trimmed once it has all been released, not at every retry
            with self._lock:
                if not self._owed and self._busy == 0 and self._queue.empty():  # not if a tile came meanwhile
                    self._owed, self._retry_at = refused, time.monotonic() + self._retry_wait
                    self._retry_wait = min(2 * self._retry_wait, self._idle_release_s)
        elif self._after_runs is not None:
            self._after_runs(True)

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        items = [first]
        deadline = time.monotonic() + self._settings.max_queue_delay_ms / 1000.0
        while len(items) < self._settings.max_batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _WAKE:
                continue
            if item is _STOP:
                return items, True
            self._gauges.queued.dec()
            items.append(item)
        return items, False

    def _run(self, group: list[_Item]) -> None:
        live = [item for item in group if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        self._gauges.in_flight.inc(len(live))
        try:
            images = _batch([item.image for item in live])
            contexts = None if live[0].context is None else _batch([item.context for item in live])
            outputs = self._runtime.execute(images, contexts, release_memory=self._release_memory())
            if len(outputs) != len(live):
                raise EngineError(f"the runtime returned {len(outputs)} outputs for {len(live)} tiles")
        except Exception as exc:  # one bad batch must fail its own tiles, never the thread
            for item in live:
                item.future.set_exception(exc)
            return
        finally:
            self._gauges.in_flight.dec(len(live))
        for item, output in zip(live, outputs, strict=True):
            item.future.set_result(output)
        if self._on_batch is not None:
            try:
                self._on_batch(len(live))
            except Exception:  # a metrics hook must not take a runner down
                log.exception("batch observer failed")

    def _release_memory(self) -> bool:
        """Whether the next run should hand the runtime's spare memory back: at most once every
        `settings.arena_release_seconds`, never when that is 0 (docs/serving.md, "Memory")."""
        if self._settings.arena_release_seconds <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            if now - self._released_at >= self._settings.arena_release_seconds:
                self._released_at = now
                return True
        return False


def runner_count(runtime: Runtime, runners: int) -> int:
    """Runner threads for `runtime`: `runners` (0 = default_runners()) if it takes concurrent calls, else 1."""
    if not getattr(runtime, "concurrent_calls", False):
        return 1
    return runners or default_runners()


def _batch(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays stacked on a new first axis; a lone array as a view, without copying its ~10 MB."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def _group_by_shape(items: list[_Item]) -> list[list[_Item]]:
    groups: dict[tuple, list[_Item]] = defaultdict(list)
    for item in items:
        groups[(item.image.shape, None if item.context is None else item.context.shape)].append(item)
    return list(groups.values())


def _released(release: Callable[[], bool | None]) -> bool:
    """Ask one idle release; False only when it was refused for now (it returned False). One that
    raised counts as done, logged: asking it again would only log again."""
    try:
        return release() is not False
    except Exception:  # a runtime that cannot release must not take a runner down
        log.exception("runtime failed to release its idle memory")
        return True
