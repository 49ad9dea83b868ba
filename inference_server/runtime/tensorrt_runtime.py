"""TensorRT on NVIDIA GPUs: deserializes a plan built by the trainer and runs it on CUDA buffers.

Not run on the project's machines (they have no GPU); its tests skip there. It is chosen only when
`tensorrt` and CUDA import and the manifest holds a plan for this GPU's compute capability and
this TensorRT major version.
"""

from __future__ import annotations

import logging

import numpy as np

from inference_server.runtime import EngineError, context_width
from tessera.pixels import MIN_EDGE
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME, Manifest, TensorRTPlan, Tiling
from tessera.tiling import MAX_TILE_SIZE, round_up

log = logging.getLogger(__name__)


def _import_cuda():
    """(tensorrt, cudart) or raise ImportError."""
    import tensorrt as trt

    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart
    return trt, cudart


def _check(result):
    """cuda-python returns (error, value...); raise on error, return the value(s)."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise EngineError(f"CUDA call failed with error {error}")
    return values[0] if len(values) == 1 else values


def gpu_compute_capability() -> str | None:
    """'8.6' for the first GPU, or None where TensorRT or CUDA does not import or no GPU exists."""
    try:
        _, cudart = _import_cuda()
        props = _check(cudart.cudaGetDeviceProperties(0))
    except (ImportError, EngineError, OSError):
        return None
    return f"{props.major}.{props.minor}"


def plan_limits_problem(plan: TensorRTPlan, tiling: Tiling, max_batch: int,
                        max_tile: int = MAX_TILE_SIZE) -> str | None:
    """Why a plan cannot take every call this server makes, or None.

    The server sends inputs from MIN_EDGE rounded up to the size multiple (a tiny image, or a thin
    last tile) up to a `max_tile` core with its halo, in batches of up to `max_batch` tiles; a plan
    built for less would fail those calls at run time.
    """
    smallest = round_up(MIN_EDGE, tiling.size_multiple)
    if plan.min_tile > smallest:
        return f"it accepts inputs from {plan.min_tile} px, the server sends some of {smallest} px"
    if plan.max_tile < max_tile:
        return f"it accepts tile cores up to {plan.max_tile} px, the server allows {max_tile} px"
    if plan.max_batch < max_batch:
        return f"it accepts batches of up to {plan.max_batch} tiles, the server batches up to {max_batch}"
    return None


def plan_core_limit(manifest: Manifest, max_batch: int) -> int | None:
    """The longest tile core edge, in px, that every plan the manifest lists and a server batching up to
    `max_batch` tiles could use takes (their smallest `max_tile`; a plan's profile is square), or None
    when it lists none. Read from the manifest, not from whether this machine loaded a plan, so that
    every replica serving the version offers the same tiles: a client plans from the first replica that
    answers and sends its streams to any."""
    cores = [plan.max_tile for plan in manifest.tensorrt
             if plan_limits_problem(plan, manifest.tiling, max_batch) is None]
    return min(cores) if cores else None


def usable_plans(manifest: Manifest, max_batch: int) -> list[TensorRTPlan]:
    """The manifest's plans whose tile and batch limits cover this server's calls; the others are logged."""
    usable = []
    for plan in manifest.tensorrt:
        problem = plan_limits_problem(plan, manifest.tiling, max_batch)
        if problem:
            log.warning("%s v%d: TensorRT plan %s is not used: %s",
                        manifest.style, manifest.version, plan.file, problem)
        else:
            usable.append(plan)
    return usable


def matching_plan(manifest: Manifest, max_batch: int) -> TensorRTPlan | None:
    """The manifest's plan for this GPU and TensorRT major version whose limits fit, if there is one."""
    plans = usable_plans(manifest, max_batch)
    if not plans:
        return None
    capability = gpu_compute_capability()
    if capability is None:
        return None
    trt, _ = _import_cuda()
    major = trt.__version__.split(".")[0]
    for plan in plans:
        if plan.compute_capability == capability and plan.tensorrt_version.split(".")[0] == major:
            return plan
    log.info("no TensorRT plan for compute capability %s and TensorRT %s", capability, trt.__version__)
    return None


class TensorRTRuntime:
    """One deserialized engine with its execution context, stream and device buffers."""

    name = "tensorrt"
    concurrent_calls = False  # one execution context, stream and set of device buffers

    def __init__(self, plan_path, precision: str = "fp16", context_input: str = CONTEXT_INPUT) -> None:
        self.precision = precision  # the plan's, as its manifest entry says
        self._context_input = context_input
        try:
            self._trt, self._cudart = _import_cuda()
        except ImportError as exc:
            raise EngineError(f"TensorRT is not available: {exc}") from None
        trt = self._trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(plan_path.read_bytes())
        if self.engine is None:
            raise EngineError(f"TensorRT could not deserialize {plan_path.name} (built for another GPU or version?)")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EngineError("TensorRT could not create an execution context")
        self._stream = _check(self._cudart.cudaStreamCreate())
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)

    def execute(self, image: np.ndarray, context: np.ndarray | None = None, release_memory: bool = False) -> np.ndarray:
        # `release_memory` is ignored: device buffers are sized once per shape and reused.
        inputs = {INPUT_NAME: image}
        if context is not None:
            inputs[self._context_input] = context
        for name, array in inputs.items():
            host = np.ascontiguousarray(array, dtype=self._dtype(name))
            if not self.context.set_input_shape(name, host.shape):
                raise EngineError(f"shape {host.shape} of {name} is outside the plan's optimisation profile")
            pointer = self._device_buffer(name, host.nbytes)
            _check(self._cudart.cudaMemcpyAsync(pointer, host.ctypes.data, host.nbytes,
                                                self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream))
            self.context.set_tensor_address(name, pointer)
        shape = tuple(self.context.get_tensor_shape(OUTPUT_NAME))
        output = np.empty(shape, dtype=self._dtype(OUTPUT_NAME))
        out_pointer = self._device_buffer(OUTPUT_NAME, output.nbytes)
        self.context.set_tensor_address(OUTPUT_NAME, out_pointer)
        if not self.context.execute_async_v3(self._stream):
            raise EngineError("TensorRT execution failed")
        _check(self._cudart.cudaMemcpyAsync(output.ctypes.data, out_pointer, output.nbytes,
                                            self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream))
        _check(self._cudart.cudaStreamSynchronize(self._stream))
        return output.astype(np.float32, copy=False)

    def context_size(self) -> int | None:
        """K of the plan's [N, K] context input (`context_input`), or None when it takes none. Raises
        EngineError when K is not fixed (-1 here)."""
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if self._context_input not in names:
            return None
        return context_width(self._context_input, self.engine.get_tensor_shape(self._context_input)[1])

    def release_idle(self) -> bool:
        """Nothing to do: device buffers are sized once per shape and reused."""
        return True

    def finalize(self) -> None:
        for pointer, _ in self._buffers.values():
            self._cudart.cudaFree(pointer)
        self._buffers.clear()
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self.context = None
        self.engine = None

    def _dtype(self, name: str) -> np.dtype:
        return np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name)))

    def _device_buffer(self, name: str, nbytes: int) -> int:
        """A device buffer for `name` of at least `nbytes`, grown (never shrunk) on demand."""
        pointer, capacity = self._buffers.get(name, (0, 0))
        if capacity < nbytes:
            if pointer:
                _check(self._cudart.cudaFree(pointer))
            pointer = _check(self._cudart.cudaMalloc(nbytes))
            self._buffers[name] = (pointer, nbytes)
        return pointer
