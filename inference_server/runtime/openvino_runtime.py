"""OpenVINO on the CPU in bfloat16: the fast engine of CPUs with native bf16 matrix units.

On a CPU with AMX or AVX-512 BF16 (Intel Sapphire Rapids and later; OpenVINO reports `BF16` among
the CPU's `OPTIMIZATION_CAPABILITIES`), OpenVINO's CPU plugin runs convolutions with bf16 inputs
and fp32 accumulation (oneDNN), and fuses each convolution with the affine and ReLU after it. On this
project's 2-core machine the served generators run 2.2-3.3x faster than in ONNX Runtime fp32
(`python -m bench --only engines`, docs/serving.md "Engines"). The price is precision: bf16 keeps
8 bits of mantissa, so a pixel may differ from the fp32 result by a few levels of 255 (a mean of
0.5-2.5 levels on photos). A version serves here only when its probe tiles agree with ONNX Runtime's
within `version_checks.REDUCED_PRECISION_PSNR_DB`; otherwise ONNX Runtime serves it.

Sources: OpenVINO's CPU plugin documentation ("Precision Control", "Multi-stream execution");
`INFERENCE_PRECISION_HINT`, `NUM_STREAMS` and `INFERENCE_NUM_THREADS` are its properties.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from inference_server.runtime import EngineError
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME

NAME = "openvino-cpu-bf16"


@functools.cache
def bf16_available() -> bool:
    """Whether OpenVINO imports and reports native bf16 on this CPU (read once per process)."""
    try:
        import openvino
    except ImportError:
        return False
    try:
        return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        return False


class OpenVinoRuntime:
    """One model compiled by OpenVINO for the CPU in bf16, with `streams` streams of `threads`
    threads each, so `streams` runners can call `execute` at once (each thread gets its own infer
    request). Inputs and output are float32 NCHW, like ONNX Runtime's.

    Raises EngineError when OpenVINO cannot read or compile the model."""

    name = NAME
    concurrent_calls = True

    def __init__(self, model_path: Path, threads: int = 1, streams: int = 1, output: str = OUTPUT_NAME,
                 context_input: str = CONTEXT_INPUT) -> None:
        import openvino

        try:
            core = openvino.Core()
            model = core.read_model(str(model_path))
            self._compiled = core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": "bf16",
                "NUM_STREAMS": max(1, streams),
                "INFERENCE_NUM_THREADS": max(1, streams) * max(1, threads),
                # The runners, gRPC and the context model share the cores; pinned threads would fight them.
                "ENABLE_CPU_PINNING": False,
            })
        except RuntimeError as exc:  # OpenVINO raises RuntimeError for unreadable and uncompilable models
            raise EngineError(f"OpenVINO cannot compile {model_path.name}: {_first_line(exc)}") from None
        self._output = self._compiled.output(output)
        self._context_input = context_input
        self._requests = threading.local()

    def execute(self, image: np.ndarray, context: np.ndarray | None = None, release_memory: bool = False) -> np.ndarray:
        """`release_memory` is accepted for the interface; OpenVINO keeps each shape's buffers with its request."""
        feeds = {INPUT_NAME: image}
        if context is not None:
            feeds[self._context_input] = context
        return self._request().infer(feeds)[self._output]

    def finalize(self) -> None:
        self._requests = threading.local()
        self._compiled = None

    def _request(self):
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        return request


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
