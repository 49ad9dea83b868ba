"""One small interface over the engines that run a generator: ONNX Runtime, OpenVINO (bf16) and TensorRT.

Modelled on Triton's backend API: a runtime is created for one model file (initialize), runs
batches (execute) and releases its resources (finalize). `select_runtime` picks TensorRT where a
plan for this GPU exists and TensorRT imports, and ONNX Runtime otherwise; with `--cpu-engine auto`
on a CPU with native bf16 the server then tries OpenVINO (inference_server.model_version).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Protocol

import numpy as np

from tessera.registry import OUTPUT_NAME, Manifest, is_fixed_width

log = logging.getLogger(__name__)


# `--cpu-engine`: "onnxruntime" always serves ONNX Runtime fp32; "auto" serves a version whose manifest
# lists bf16 on OpenVINO in bf16 where the CPU has native bf16 and the version's probe tiles agree with
# ONNX Runtime's. The default is ONNX Runtime: OpenVINO keeps each version's activation memory while
# it serves (about 200 MB per runner for 1 MP tiles, handed back after 30 s without tiles), so memory
# would grow with the bf16 versions serving at once (docs/serving.md, "Engines").
CPU_ENGINES = ("onnxruntime", "auto")
DEFAULT_CPU_ENGINE = "onnxruntime"


def cpu_engine(text: str) -> str:
    """Parse `--cpu-engine`; raises ValueError naming the choices."""
    if text not in CPU_ENGINES:
        raise ValueError(f"'{text}' is not a CPU engine; choose {' or '.join(CPU_ENGINES)}")
    return text


def own_calls(runtime: object):
    """A context in which this thread's calls of `runtime` are the server's own (probe tiles, warm-up
    runs), not clients': an engine that adapts to the shapes it is asked for (OpenVINO fp32's static
    compile per tile shape, openvino_shapes.py) does not count them. A no-op for the other engines."""
    uncounted = getattr(runtime, "uncounted", None)
    return uncounted() if uncounted is not None else nullcontext()


class EngineError(Exception):
    """A model could not be loaded or run; the message says why."""


def context_width(name: str, dim: object) -> int:
    """The width K of the [N, K] context input `name`, from its second dimension as the engine reports it
    (an int when fixed). Raises EngineError when K is not fixed: a model error, which the I/O rule
    (tessera.registry.generator_io_problem) rejects before a version serves."""
    if not is_fixed_width(dim):
        raise EngineError(f"the context input '{name}' has width {dim!r}; the model must fix K")
    return dim


class Runtime(Protocol):
    """Runs one generator. Inputs are float32 NCHW in [-1, 1]; so is the output."""

    name: str
    # The arithmetic precision it runs the model at, as manifests name it: "fp32", "bf16" or
    # "bf16-fp32-stem" (docs/registry.md, "Precisions"), or a TensorRT plan's "fp16"/"fp32".
    precision: str
    # Whether execute() may be called from several threads at once (the batcher's runners).
    concurrent_calls: bool

    def execute(self, image: np.ndarray, context: np.ndarray | None = None, release_memory: bool = False) -> np.ndarray:
        """Run a batch [N, 3, H, W] (plus an optional [N, K] context) and return [N, 3, H, W].
        `release_memory`: hand memory kept for the next runs back after this one (every probe run asks,
        and the batcher once every `--arena-release-seconds` where that is set)."""
        ...

    def context_size(self) -> int | None:
        """K of the model's [N, K] context input (the runtime's `context_input`), or None when it takes
        none. Raises EngineError when K is not fixed (context_width)."""
        ...

    def release_idle(self) -> bool:
        """Hand back memory the engine keeps between runs; the batcher calls it once the version has
        run nothing for IDLE_RELEASE_S (batcher.py). A call that starts meanwhile must still run correctly.
        Returns False when the engine could not release now (a run in flight, another version using the
        shared arena), so that the batcher asks again (RELEASE_RETRY_S); True otherwise."""
        ...

    def finalize(self) -> None:
        """Release the engine's resources."""
        ...


class ContextModel(Protocol):
    """Runs a version's context model: the thumbnail's statistics for each norm (docs/registry.md)."""

    name: str  # the engine, as Runtime.name
    precision: str  # as Runtime.precision

    def run_named(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The first output ([1, K] float32) for the model's named inputs ([1, 3, h, w] "thumbnail" in
        [-1, 1], and a [1, D] "style_code" for a style-conditioned version)."""
        ...

    def release_idle(self) -> bool:
        """Hand back memory kept between runs (as Runtime.release_idle, with its answer); the version's
        batcher calls it with its own runtime's."""
        ...

    def finalize(self) -> None:
        """Release the engine's resources."""
        ...


def cpu_runtime(model_path: Path, precision: str = "fp32", threads: int = 0,
                output: str = OUTPUT_NAME) -> Runtime:
    """One model on the CPU at `precision` (a manifest's name, docs/registry.md "Precisions"): "fp32" on
    ONNX Runtime, a reduced one (tessera.registry.REDUCED_PRECISIONS) on OpenVINO with one stream. Both
    are also ContextModels (`output` "context" for a version's context model).
    Raises ValueError for any other precision, EngineError when the engine cannot load the model."""
    if precision == "fp32":
        from inference_server.runtime.onnx_runtime import OnnxRuntime

        return OnnxRuntime(model_path, threads=threads, output=output)
    from inference_server.runtime.openvino_runtime import OpenVinoRuntime

    return OpenVinoRuntime(model_path, threads=max(1, threads), precision=precision, output=output)


def select_runtime(version_dir: Path, manifest: Manifest, threads: int, max_batch: int) -> Runtime:
    """The fastest runtime this machine offers for a version: TensorRT when the manifest has a
    plan for this GPU whose tile and batch limits cover the server's calls (at most `max_batch`
    tiles) and TensorRT imports, otherwise ONNX Runtime on the CPU."""
    from inference_server.runtime import tensorrt_runtime

    plan = tensorrt_runtime.matching_plan(manifest, max_batch)
    if plan is not None:
        try:
            return tensorrt_runtime.TensorRTRuntime(version_dir / plan.file, plan.precision)
        except EngineError as exc:
            log.warning("TensorRT plan %s unusable, falling back to ONNX Runtime: %s", plan.file, exc)
    from inference_server.runtime.onnx_runtime import OnnxRuntime

    return OnnxRuntime(version_dir / manifest.onnx.file, threads=threads)
