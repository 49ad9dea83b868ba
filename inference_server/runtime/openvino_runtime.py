"""OpenVINO on the CPU in bfloat16: the fast engine of CPUs with native bf16 matrix units (and, for a
graph in an exact form, in fp32 on any CPU: "fp32-openvino" below).

On a CPU with AMX or AVX-512 BF16 (Intel Sapphire Rapids and later; OpenVINO reports `BF16` among
the CPU's `OPTIMIZATION_CAPABILITIES`), OpenVINO's CPU plugin runs convolutions with bf16 inputs
and fp32 accumulation (oneDNN). On this project's 2-core machine the versions tried ran 1.6x faster
than in ONNX Runtime fp32 on a whole 6 MP photo (`TESSERA_CPU_ENGINE=auto python -m bench --only
serving`, docs/serving.md "Measured here"). The price is precision: bf16
keeps 8 bits of mantissa, so a pixel may differ from the fp32 result by a few levels of 255, and
memory: each compiled model keeps its streams' activation memory until `release_idle` hands it back
(`CompiledModel.release_memory`, once the version has run nothing for a while; docs/serving.md,
"Engines"). A version serves here only when the server runs `--cpu-engine auto`, its manifest lists
a bf16 form (bf16; bf16-fp32-input, its picture's preparation in fp32; bf16-fp32-stem, its stem in
fp32) and its natural probe tiles agree with ONNX
Runtime's within `version_checks.REDUCED_PRECISION_PSNR_DB`.

Sources: OpenVINO's CPU plugin documentation ("Precision Control", "Multi-stream execution");
`INFERENCE_PRECISION_HINT`, `NUM_STREAMS` and `INFERENCE_NUM_THREADS` are its properties.
"""

from __future__ import annotations

import functools
import logging
import threading
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from inference_server.runtime import EngineError, context_width
from inference_server.runtime.openvino_shapes import ShapeCompiles
from tessera.onnx_session import SHARED_ARENA, open_session
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OPENVINO_FP32, OUTPUT_NAME, REDUCED_PRECISIONS

NAME = "openvino-cpu-bf16"
FP32_NAME = "openvino-cpu-fp32"
PRECISIONS = (*REDUCED_PRECISIONS, OPENVINO_FP32)  # the manifest's names this runtime runs
# The reduced precisions that run a head on ONNX Runtime fp32, and where it ends (stem_split.py).
_KEEP_IN_FP32 = {"bf16-fp32-input": "input", "bf16-fp32-stem": "stem"}
log = logging.getLogger(__name__)


@functools.cache
def bf16_available() -> bool:
    """Whether OpenVINO imports and reports native bf16 on this CPU (read once per process)."""
    try:
        return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except (ImportError, RuntimeError):
        return False


@functools.cache
def openvino_available() -> bool:
    """Whether OpenVINO imports and lists a CPU device (read once per process): all fp32 needs."""
    try:
        return "CPU" in _core().available_devices
    except (ImportError, RuntimeError):
        return False


@functools.cache
def _core():
    """The process's one OpenVINO core: its CPU plugin, thread pools and caches serve every version."""
    import openvino

    return openvino.Core()


class OpenVinoRuntime:
    """One model compiled by OpenVINO for the CPU in bf16, with `streams` streams of `threads`
    threads each, so `streams` runners can call `execute` at once. Each call runs on an infer request
    no other call holds; up to `streams` requests are kept between calls (`_infer` says why) and let go
    by `release_idle`. The activation memory lives in the compiled
    model's streams, about 200 MB per stream for a 1 MP tile, and stays after a call returns until
    `release_idle` hands it back (the batcher calls it once the version has run nothing for a while;
    the process's heap trimming then returns it to the OS, docs/serving.md "Memory"). Inputs and
    output are float32 NCHW, like ONNX Runtime's.

    `precision` is one of REDUCED_PRECISIONS, a manifest's names: "bf16" runs the whole model in
    bf16; "bf16-fp32-stem" runs its stem (up to the first ReLU after a norm, stem_split.py) on ONNX Runtime fp32
    and the rest in bf16, for networks whose stem bf16 breaks on low-contrast pictures;
    "bf16-fp32-input" runs only the picture's preparation before the stem's convolution in fp32, for
    centred stems (trainer/centre_stem.py); "fp32-openvino" runs the whole model in fp32 (OpenVINO's
    `INFERENCE_PRECISION_HINT` f32), for graphs in an exact form whose bytes it gives as ONNX Runtime
    does (trainer/onnx_integer.py).

    A version's context model (`output` "context") loads the same way and runs through `run_named`;
    the server runs it in the same form as the version's tiles where that passes its probes
    (stem_split.py says why), else on ONNX Runtime fp32 (inference_server/bf16_forms.py).

    Raises ValueError for another precision, EngineError when OpenVINO cannot read or compile the
    model or its stem cannot be split off."""

    concurrent_calls = True

    def __init__(self, model_path: Path, threads: int = 1, streams: int = 1, output: str = OUTPUT_NAME,
                 context_input: str = CONTEXT_INPUT, precision: str = "bf16") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        # openvino-cpu-bf16[-fp32-input|-fp32-stem], or openvino-cpu-fp32
        self.name = FP32_NAME if precision == OPENVINO_FP32 else NAME + precision.removeprefix("bf16")
        self.precision = precision
        self._stem: _Stem | None = None
        source: str | bytes = str(model_path)
        if precision in _KEEP_IN_FP32:
            self._stem = _Stem(model_path, output, threads, _KEEP_IN_FP32[precision])
            source = self._stem.tail
        config = {
            "INFERENCE_PRECISION_HINT": "f32" if precision == OPENVINO_FP32 else "bf16",
            "NUM_STREAMS": max(1, streams),
            "INFERENCE_NUM_THREADS": max(1, streams) * max(1, threads),
            # The runners, gRPC and the context model share the cores; pinned threads would fight them.
            "ENABLE_CPU_PINNING": False,
        }
        try:
            core = _core()
            self._compiled = core.compile_model(core.read_model(source), "CPU", config)
        except RuntimeError as exc:  # OpenVINO raises RuntimeError for unreadable and uncompilable models
            raise EngineError(f"OpenVINO cannot compile {model_path.name}: {_first_line(exc)}") from None
        self._output = self._compiled.output(output)
        self._inputs = {port.get_any_name() for port in self._compiled.inputs}
        self._context_input = context_input
        # Infer requests between calls: one per call at once, made when every kept one is busy; at most
        # one per stream is kept (more calls at once than streams wait in OpenVINO, their requests go).
        # The lock makes "count, then keep" one step, and finalize's "closed, then drop" another.
        self._idle_requests: list = []
        self._requests_lock = threading.Lock()
        self._kept_requests = max(1, streams)
        # An exact form also runs on a static compile per tile shape (openvino_shapes.py says why).
        self._shapes = None if precision != OPENVINO_FP32 else ShapeCompiles(
            lambda shapes: _static_compile(source, shapes, config), self._infer_dynamic, output, self._kept_requests)

    def execute(self, image: np.ndarray, context: np.ndarray | None = None, release_memory: bool = False) -> np.ndarray:
        """`release_memory` is ignored: OpenVINO hands its memory back only through `release_idle`,
        since a release in the middle of a burst costs the next tile about 1.4 times its time.
        Raises EngineError when the model needs an input that was not given (a context)."""
        feeds = {INPUT_NAME: image}
        if context is not None:
            feeds[self._context_input] = context
        return self.run_named(feeds)

    def run_named(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The output for the model's named inputs: how a context model runs (its thumbnail and, for a
        style-conditioned version, its style code). Raises EngineError naming an input not given."""
        if self._stem is not None:
            feeds = {**feeds, **self._stem.run(feeds)}
        missing = self._inputs - feeds.keys()
        if missing:
            raise EngineError(f"the model needs the input {', '.join(sorted(missing))}, which was not given")
        inputs = {name: feeds[name] for name in self._inputs}
        return self._infer_dynamic(inputs) if self._shapes is None else self._shapes.infer(inputs)

    def _infer_dynamic(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The output (a copy, OpenVINO's `share_outputs` off) of one run of the model as compiled (with
        dynamic shapes) on a kept infer request.

        A request is kept for the next call rather than made per call: a new request allocates its
        buffers afresh, and under the server's heap settings of then (tessera.heap.bound_heap: blocks of 1 MB
        and more are mapped and unmapped each time) six 944x1064 tiles of teacher-26 on two streams took
        0.85-1.05 s with a request per call against 0.76 s with kept ones (a `/tmp` script, 2026-12-02)."""
        with self._requests_lock:
            request = self._idle_requests.pop() if self._idle_requests else None
        if request is None:
            request = self._compiled.create_infer_request()
        try:
            return request.infer(inputs)[self._output]
        finally:
            self._keep(request)

    def _keep(self, request) -> None:
        """Keep a request for the next call, but not after finalize, and not beyond one per stream: a
        context model of one stream kept one per concurrent stream header (about 6 MB each) until the
        version went idle."""
        with self._requests_lock:
            if self._compiled is not None and len(self._idle_requests) < self._kept_requests:
                self._idle_requests.append(request)

    def uncounted(self):
        """A context in which this thread's calls are the server's own (probes, warm-up): not counted
        toward a static compile per tile shape (openvino_shapes.ShapeCompiles.uncounted)."""
        return nullcontext() if self._shapes is None else self._shapes.uncounted()

    def static_tile_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of the single-tile calls served on static compiles now (openvino_shapes.py),
        least recently used first; none for a runtime without them."""
        if self._shapes is None:
            return []
        sizes = [dict(key).get(INPUT_NAME) for key in self._shapes.shapes]
        return [(shape[2], shape[3]) for shape in sizes if shape is not None and shape[0] == 1]

    def compile_static(self, image: np.ndarray, context: np.ndarray | None = None) -> bool:
        """Compile the static model of this call's shape now (a warm-up, before traffic), checked against
        the dynamic model's output; True when the shape is then served static, False for a runtime
        without static compiles or a refused shape."""
        if self._shapes is None:
            return False
        feeds = {INPUT_NAME: image} if context is None else {INPUT_NAME: image, self._context_input: context}
        missing = self._inputs - feeds.keys()
        if missing:
            raise EngineError(f"the model needs the input {', '.join(sorted(missing))}, which was not given")
        return self._shapes.compile_now({name: feeds[name] for name in self._inputs})

    @property
    def fp32_convolutions(self) -> int:
        """Convolutions run on ONNX Runtime fp32 before the bf16 part (0 in the whole-bf16 form)."""
        return 0 if self._stem is None else self._stem.convolutions

    def context_size(self) -> int | None:
        """K of the model's [N, K] context input, or None when it takes none. Raises EngineError when K
        is not fixed."""
        # With an fp32 stem the compiled model is the tail; the stem takes the model's own inputs.
        if self._stem is not None and self._context_input in self._stem.shapes:
            return context_width(self._context_input, self._stem.shapes[self._context_input][1])
        port = next((p for p in self._compiled.inputs if self._context_input in p.get_names()), None)
        if port is None:
            return None
        dim = port.get_partial_shape()[1]
        return context_width(self._context_input, dim.get_length() if dim.is_static else str(dim))

    def release_idle(self) -> bool:
        """Hand the compiled model's activation memory back (OpenVINO's `release_memory`), and the fp32
        stem's share of ONNX Runtime's arena. OpenVINO refuses while an infer request runs, and the
        arena is handed back only while the process's sessions are quiet (SharedArenaActivity.shrink);
        either refusal returns False, so the batcher asks again, and is not an error."""
        self._drop_idle_requests()
        released = True
        try:
            self._compiled.release_memory()
        except RuntimeError as exc:  # "infer requests in progress": a call started since the queue ran dry
            log.debug("OpenVINO kept its memory: %s", _first_line(exc))
            released = False
        if self._shapes is not None:
            released = self._shapes.release_memory() and released
        if self._stem is not None:
            released = self._stem.release_arena() and released
        return released

    def _drop_idle_requests(self) -> None:
        """Let go of the kept requests no call holds now, and their buffers with them."""
        with self._requests_lock:
            self._idle_requests.clear()

    def finalize(self) -> None:
        with self._requests_lock:  # closed first: a call ending now does not keep its request
            self._compiled = self._stem = None
            self._idle_requests.clear()
        if self._shapes is not None:
            self._shapes.close()


class _Stem:
    """The fp32 head of a bf16-fp32-stem or bf16-fp32-input model (`keep` "stem" or "input",
    stem_split.py): an ONNX Runtime session of the head and the serialized tail for OpenVINO. Raises
    EngineError when the model cannot be split."""

    # px: the side of the tiny picture whose run hands the shared arena back (a multiple of every
    # model's size multiple, larger than any stem's padding).
    TINY_SIDE = 64

    def __init__(self, model_path: Path, output: str, threads: int, keep: str) -> None:
        # Here, not at the top: stem_split needs the onnx package, whose import takes about 0.8 s
        # (ml_dtypes), which a server that never splits a stem should not wait for at every start.
        from inference_server.runtime.stem_split import split_after_stem

        split = split_after_stem(model_path, output, keep)
        try:
            self._session = open_session(split.head, threads)
        except Exception as exc:  # ORT's own exception types for a graph it cannot load
            raise EngineError(f"ONNX Runtime cannot load the stem of {model_path.name}: {exc}") from None
        self.cuts, self.tail, self.convolutions = list(split.cuts), split.tail, split.convolutions
        # The head's inputs (the model's) and their shapes, str or None for dynamic dimensions.
        self.shapes = {i.name: i.shape for i in self._session.get_inputs()}
        self._inputs = list(self.shapes)
        self._tiny = {name: np.zeros([d if isinstance(d, int) else (1 if k == 0 else self.TINY_SIDE)
                                      for k, d in enumerate(shape)], np.float32)
                      for name, shape in self.shapes.items()}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The stem's fp32 outputs (its cuts, stem_split.py) for the model's feeds; EngineError names an
        input not given."""
        missing = [name for name in self._inputs if name not in feeds]
        if missing:
            raise EngineError(f"the model needs the input {', '.join(missing)}, which was not given")
        with SHARED_ARENA.running():
            outputs = self._session.run(self.cuts, {name: feeds[name] for name in self._inputs})
        return dict(zip(self.cuts, outputs, strict=True))

    def release_arena(self) -> bool:
        """Hand the shared arena's free memory back, when the process's sessions are quiet: a run on a
        tiny picture that ends by shrinking it (SharedArenaActivity.shrink, whose answer it returns)."""
        return SHARED_ARENA.shrink(lambda options: self._session.run(self.cuts, self._tiny, options))


def _static_compile(source: str | bytes, shapes: dict[str, list[int]], config: dict):
    """The model read from `source`, reshaped to the static input `shapes`, compiled for the CPU with
    `config`. Raises RuntimeError (OpenVINO's) when it cannot be."""
    core = _core()
    model = core.read_model(source)
    model.reshape(shapes)
    return core.compile_model(model, "CPU", config)


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
