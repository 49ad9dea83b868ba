"""Static-shape compiles of a model in an exact form, one per tile shape the server sees, for OpenVINO fp32.

OpenVINO's CPU plugin runs a model compiled with dynamic shapes through layout reorders and shape
preparation on every call that a model compiled for one input shape does without. On any-painting-best's
integer form (trainer/onnx_integer.py) the difference is most of what OpenVINO gains over ONNX Runtime:
one 1152x1152 tile on one thread, 676 ms in ONNX Runtime fp32 (v4), 518 ms on OpenVINO with dynamic
shapes and 380 ms compiled for the tile's shape; a 3000x2000 photo in 1000 px tiles on two one-thread
runners (the server's arrangement), 4.29 MP/s in ONNX Runtime and 5.84 with a compile per tile shape
(1.36x; 2 shapes, 0.5 s to compile each; `/tmp` scripts on a quiet machine, 2026-12-05 01:10 UTC).

A photo's tiles take few shapes (one per row height and column width: six for a 6 MP photo in the
client's tiles), and a service sees the same photo sizes again and again. So `ShapeCompiles` compiles a
static model for an input shape once it has been asked for COMPILE_AFTER times, but only while the model
runs nothing (no call for IDLE_BEFORE_COMPILE_S): a compile takes 0.5-1.5 s of CPU, and compiling while
tiles ran made the second and third 6 MP photos of a size 2.4x slower than on the dynamic model on this
2-core machine. One worker thread compiles, one shape after another while the model stays idle, at a
lower priority (nice COMPILE_NICENESS) so that a call arriving meanwhile keeps the cores. Before serving
a shape on its static model it runs it on the input of the call that queued the shape, still idle, and
keeps it only if it gave that call's (dynamic) bytes (the form is exact, so any kernel order must give
them; a shape that does not, or does not compile, is served dynamic from then on, with a warning). Until
then, and for shapes asked for less often, calls run on the dynamic model. At most MAX_SHAPES static
models are kept, least recently used first out, and `release_memory` hands every kept one's activation
memory back with the dynamic model's (docs/serving.md, "Engines"). A version swapped in for one that had static models
compiles their shapes in its warm-up, before it takes traffic (`compile_now`; model_version.warm_up).
The server's own calls (a version's probe tiles at load and its warm-up runs) are made `uncounted()`:
they are not clients' shapes, and counted they compiled two static models no client asked for (the
160 px probe tile and the 1152 px warm-up tile, each kept with its memory).

Only for "fp32-openvino" (exact forms): a bf16 form's static compile may pick other kernels, whose
rounding its probes did not see.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

log = logging.getLogger(__name__)

# Static models kept per runtime: one photo size's tile shapes (at most 3 row heights x 3 column widths).
# Each keeps its streams' activation memory between calls (about 100-200 MB per stream for a 1 MP tile)
# until `release_memory`.
MAX_SHAPES = 9
COMPILE_AFTER = 2  # calls of one shape before it is queued for a static compile
IDLE_BEFORE_COMPILE_S = 0.5  # no call for this long before a queued compile starts
_COUNTED = 64  # shapes whose calls are counted, the most recent
COMPILE_NICENESS = 10  # added to the compile thread's nice value (Linux: per thread), so tiles go first

Shape = tuple[tuple[str, tuple[int, ...]], ...]  # (input name, shape) per input, sorted by name


def shape_of(inputs: dict[str, np.ndarray]) -> Shape:
    """The key of a call's input shapes."""
    return tuple(sorted((name, tuple(int(d) for d in value.shape)) for name, value in inputs.items()))


class _Static:
    """One shape's compiled model and its kept infer requests (at most `kept` between calls)."""

    def __init__(self, compiled, output: str, kept: int) -> None:
        self.compiled, self.port, self.kept = compiled, compiled.output(output), kept
        self._idle: list = []
        self._lock = threading.Lock()

    def infer(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            request = self._idle.pop() if self._idle else None
        request = request or self.compiled.create_infer_request()
        try:
            return request.infer(inputs)[self.port]
        finally:
            with self._lock:
                if len(self._idle) < self.kept:
                    self._idle.append(request)

    def warm_streams(self, inputs: dict[str, np.ndarray]) -> None:
        """Run `inputs` on `kept` requests at once, so that every stream has allocated its memory before
        traffic: a swapped-in version whose static models had run on one stream only took 1.6x its
        steady time for its first 6 MP photo (1.08x for v4 on ONNX Runtime)."""
        calls = [threading.Thread(target=self.infer, args=(inputs,)) for _ in range(self.kept)]
        for call in calls:
            call.start()
        for call in calls:
            call.join()

    def release_memory(self) -> bool:
        """Hand the activation memory back; False while a call runs (OpenVINO refuses then)."""
        with self._lock:
            self._idle.clear()
        try:
            self.compiled.release_memory()
        except RuntimeError:
            return False
        return True


class ShapeCompiles:
    """Static compiles of one model by input shape (see the module docstring). `compile_for(shapes)`
    compiles the model for {input name: shape} (blocking; called on the worker thread); `dynamic` runs a
    call on the dynamic model. Thread-safe: runners call `infer` at once. `close` stops the worker."""

    def __init__(self, compile_for: Callable[[dict[str, list[int]]], object],
                 dynamic: Callable[[dict[str, np.ndarray]], np.ndarray], output: str, kept_requests: int,
                 max_shapes: int = MAX_SHAPES, idle_before_compile_s: float = IDLE_BEFORE_COMPILE_S) -> None:
        self._compile_for, self._dynamic, self._output = compile_for, dynamic, output
        self._kept_requests, self._max_shapes, self._idle_s = kept_requests, max_shapes, idle_before_compile_s
        self._ready: OrderedDict[Shape, _Static] = OrderedDict()
        # shape -> (an input, the dynamic model's output for it): what its compile is checked against
        self._queued: OrderedDict[Shape, tuple[dict[str, np.ndarray], np.ndarray]] = OrderedDict()
        self._pending: set[Shape] = set()  # due, while the call that queues them runs
        self._refused: set[Shape] = set()  # shapes whose static model gave other bytes, or did not compile
        self._calls: OrderedDict[Shape, int] = OrderedDict()  # calls per shape neither ready nor queued
        self._running, self._last_end = 0, time.monotonic()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._worker: threading.Thread | None = None
        self._local = threading.local()  # `uncounted` is set on the threads running the server's own calls

    @contextmanager
    def uncounted(self) -> Iterator[None]:
        """Calls this thread makes inside are the server's own (probes, warm-up): served as any other,
        but not counted toward a shape's static compile."""
        self._local.uncounted = True
        try:
            yield
        finally:
            self._local.uncounted = False

    def infer(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output for `inputs`: on the shape's static model once compiled and verified,
        else on the dynamic one (queueing the shape for a compile once it is asked for often enough)."""
        key = shape_of(inputs)
        with self._lock:
            self._running += 1
            static = self._ready.get(key)
            if static is not None:
                self._ready.move_to_end(key)
            due = static is None and not getattr(self._local, "uncounted", False) and self._due(key)
        try:
            output = static.infer(inputs) if static is not None else self._dynamic(inputs)
            if due:  # this call's input and dynamic output are what the compile is checked against
                self._queue(key, {name: value.copy() for name, value in inputs.items()}, output.copy())
            return output
        finally:
            with self._lock:
                self._running -= 1
                self._last_end = time.monotonic()
                self._pending.discard(key)
                self._changed.notify_all()

    def _due(self, key: Shape) -> bool:
        """Count a call of a shape without a static model; True at its COMPILE_AFTER-th call, when it
        is to be queued. Called with the lock held."""
        if self._closed or key in self._queued or key in self._pending or key in self._refused:
            return False
        self._calls[key] = self._calls.pop(key, 0) + 1
        if len(self._calls) > _COUNTED:
            self._calls.popitem(last=False)
        if self._calls[key] < COMPILE_AFTER or len(self._queued) + len(self._pending) >= self._max_shapes:
            return False
        del self._calls[key]
        self._pending.add(key)
        return True

    def _queue(self, key: Shape, sample: dict[str, np.ndarray], reference: np.ndarray) -> None:
        with self._lock:
            if self._closed:
                return
            self._queued[key] = (sample, reference)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="openvino-shape-compile", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        """The worker: while open, take the oldest queued shape once the model has been idle for
        IDLE_BEFORE_COMPILE_S, compile and verify it."""
        _lower_priority()
        while True:
            with self._lock:
                job = self._next_when_idle()
            if job is None:
                return
            self._compile(job[0], *job[1])

    def _next_when_idle(self) -> tuple[Shape, tuple[dict[str, np.ndarray], np.ndarray]] | None:
        """(shape, (input, dynamic output)) to compile next, waiting for a queued shape and an idle model;
        None once closed. Called with the lock held."""
        while not self._closed:
            timeout = None  # nothing queued, or a call runs: the next change notifies
            if self._queued and self._running == 0:
                idle_for = time.monotonic() - self._last_end
                if idle_for >= self._idle_s:
                    return self._queued.popitem(last=False)
                timeout = self._idle_s - idle_for
            self._changed.wait(timeout)
        return None

    def _compile(self, key: Shape, sample: dict[str, np.ndarray], reference: np.ndarray) -> None:
        log.info("OpenVINO fp32 compiles input shape %s", dict(key))
        try:
            static = _Static(self._compile_for({name: list(shape) for name, shape in key}), self._output,
                             self._kept_requests)
            same = np.array_equal(static.infer(sample).view(np.uint32), reference.view(np.uint32))
        except RuntimeError as exc:  # OpenVINO's error for a shape it cannot compile or run
            self._refuse(key, f"it did not compile or run ({exc})")
            return
        if not same:
            self._refuse(key, "its static compile gave other bytes than the dynamic one")
            return
        evicted = None
        with self._lock:
            if self._closed:
                return
            self._ready[key] = static
            if len(self._ready) > self._max_shapes:
                _, evicted = self._ready.popitem(last=False)
        log.info("OpenVINO fp32 serves input shape %s on its static compile", dict(key))
        if evicted is not None:
            log.info("OpenVINO fp32 let go of a static compile (more than %d shapes)", self._max_shapes)
            evicted.release_memory()

    def _refuse(self, key: Shape, why: str) -> None:
        log.warning("OpenVINO fp32 serves input shape %s with dynamic shapes: %s", dict(key), why)
        with self._lock:
            self._refused.add(key)

    def compile_now(self, inputs: dict[str, np.ndarray]) -> bool:
        """Compile the static model of `inputs`' shape now, on the calling thread (a version's warm-up,
        before it takes traffic), checked against the dynamic model's output for `inputs`; True when the
        shape is served static afterwards. Refuses (False, with a warning) as `infer`'s compiles do."""
        key = shape_of(inputs)
        with self._lock:
            if key in self._ready:
                return True
            if self._closed or key in self._refused:
                return False
        self._compile(key, inputs, self._dynamic(inputs))
        with self._lock:
            static = self._ready.get(key)
        if static is not None:
            static.warm_streams(inputs)
        return static is not None

    @property
    def shapes(self) -> list[Shape]:
        """The shapes served on static models now, least recently used first."""
        with self._lock:
            return list(self._ready)

    def release_memory(self) -> bool:
        """Hand every static model's activation memory back; False when one refused (a call runs)."""
        with self._lock:
            kept = list(self._ready.values())
        return all([static.release_memory() for static in kept])

    def close(self) -> None:
        """Drop every static model and queued shape and stop the worker; a compile running now is
        discarded when it ends."""
        with self._lock:
            self._closed = True
            self._ready.clear()
            self._queued.clear()
            self._changed.notify_all()


def _lower_priority() -> None:
    """Raise the calling thread's nice value by COMPILE_NICENESS where the OS allows (Linux applies
    PRIO_PROCESS with a thread id to that thread alone); elsewhere leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + COMPILE_NICENESS)
    except (AttributeError, OSError):
        pass
