"""Static-shape compiles of a model in an exact form, one per tile shape the server sees, for OpenVINO fp32.

OpenVINO's CPU plugin runs a model compiled with dynamic shapes through layout reorders and shape
preparation on every call that a model compiled for one input shape does without. On any-painting-best's
integer form (trainer/onnx_integer.py) the difference is most of what OpenVINO gains over ONNX Runtime:
one 1152x1152 tile on one thread, 676 ms in ONNX Runtime fp32 (v4), 518 ms on OpenVINO with dynamic
shapes and 380 ms compiled for the tile's shape; a 3000x2000 photo in 1000 px tiles on two one-thread
runners (the server's arrangement), 4.29 MP/s in ONNX Runtime and 5.84 with a compile per tile shape
(1.36x; 2 shapes, 0.5 s to compile each; `/tmp` scripts on a quiet machine, 2026-12-05 01:10 UTC).

A photo's tiles take few shapes (the interior ones, the edge ones, the corners: at most nine for one
photo size, two for 3000x2000 in 1000 px tiles), and a service sees the same photo sizes again and
again. So `ShapeCompiles` compiles a static model for an input shape once it has been asked for
COMPILE_AFTER times (a photo's interior tiles share one; a shape seen once, such as an odd photo's edge,
is not worth the compile's CPU), on a background thread while calls run on the dynamic model, and serves
the shape on its static model once compiled. A static model is used only after its first run gave the
dynamic model's bytes (the form is exact, so any kernel order must give them; a shape whose static run
differs is served dynamic from then on, with a warning). The compile thread runs at a lower priority
(nice COMPILE_NICENESS) so the runners keep the cores. At most MAX_SHAPES static models are kept, least
recently used first out, and `release_memory` hands every kept one's activation memory back with the
dynamic model's (docs/serving.md, "Engines").

Only for "fp32-openvino" (exact forms): a bf16 form's static compile may pick other kernels, whose
rounding its probes did not see.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

# Static models kept per runtime: a few photo sizes' tile shapes. Each keeps its streams' activation
# memory between calls (about 100-200 MB per stream for a 1 MP tile) until `release_memory`.
MAX_SHAPES = 6
COMPILE_AFTER = 2  # calls of one shape before its static compile starts
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
        self.verified = False
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
    compiles the model for {input name: shape} (blocking; called on a background thread); `dynamic`
    runs a call on the dynamic model. Thread-safe: runners call `infer` at once."""

    def __init__(self, compile_for: Callable[[dict[str, list[int]]], object],
                 dynamic: Callable[[dict[str, np.ndarray]], np.ndarray], output: str, kept_requests: int,
                 max_shapes: int = MAX_SHAPES) -> None:
        self._compile_for, self._dynamic, self._output = compile_for, dynamic, output
        self._kept_requests, self._max_shapes = kept_requests, max_shapes
        self._ready: OrderedDict[Shape, _Static] = OrderedDict()
        self._compiling: set[Shape] = set()
        self._refused: set[Shape] = set()  # shapes whose static model gave other bytes, or did not compile
        self._calls: OrderedDict[Shape, int] = OrderedDict()  # calls per shape not compiled yet
        self._lock = threading.Lock()
        self._closed = False

    def infer(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output for `inputs`: on the shape's static model once compiled and verified,
        else on the dynamic one (starting the shape's compile if it is new)."""
        key = shape_of(inputs)
        static = self._static_for(key)
        if static is None:
            return self._dynamic(inputs)
        if static.verified:
            return static.infer(inputs)
        ours, theirs = static.infer(inputs), self._dynamic(inputs)
        if np.array_equal(ours.view(np.uint32), theirs.view(np.uint32)):
            static.verified = True
        else:
            self._refuse(key, "its static compile gave other bytes than the dynamic one")
        return theirs

    def _static_for(self, key: Shape) -> _Static | None:
        """The shape's static model when compiled, else None, starting its compile when it is new."""
        with self._lock:
            if key in self._ready:
                self._ready.move_to_end(key)
                return self._ready[key]
            if self._closed or key in self._compiling or key in self._refused:
                return None
            self._calls[key] = self._calls.pop(key, 0) + 1
            if len(self._calls) > _COUNTED:
                self._calls.popitem(last=False)
            if self._calls[key] < COMPILE_AFTER:
                return None
            del self._calls[key]
            self._compiling.add(key)
        threading.Thread(target=self._compile, args=(key,), name="openvino-shape-compile", daemon=True).start()
        return None

    def _compile(self, key: Shape) -> None:
        _lower_priority()
        try:
            static = _Static(self._compile_for({name: list(shape) for name, shape in key}), self._output,
                             self._kept_requests)
        except RuntimeError as exc:  # OpenVINO's error for a shape it cannot compile
            self._refuse(key, f"it did not compile ({exc})")
            return
        evicted = None
        with self._lock:
            self._compiling.discard(key)
            if self._closed:
                return
            self._ready[key] = static
            if len(self._ready) > self._max_shapes:
                _, evicted = self._ready.popitem(last=False)
        if evicted is not None:
            evicted.release_memory()

    def _refuse(self, key: Shape, why: str) -> None:
        log.warning("OpenVINO fp32 serves input shape %s with dynamic shapes: %s", dict(key), why)
        with self._lock:
            self._compiling.discard(key)
            self._refused.add(key)
            self._ready.pop(key, None)

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
        """Drop every static model; compiles still running are discarded when they end."""
        with self._lock:
            self._closed = True
            self._ready.clear()


def _lower_priority() -> None:
    """Raise the calling thread's nice value by COMPILE_NICENESS where the OS allows (Linux applies
    PRIO_PROCESS with a thread id to that thread alone); elsewhere leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + COMPILE_NICENESS)
    except (AttributeError, OSError):
        pass
