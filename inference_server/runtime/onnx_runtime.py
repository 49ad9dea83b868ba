"""ONNX Runtime on the CPU: the runtime every machine has."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference_server.runtime import EngineError, context_width
from tessera.onnx_session import SHRINK_ARENA, open_session
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME


class OnnxRuntime:
    """One ONNX Runtime session. `threads` bounds its intra-op parallelism; `execute`'s second array
    feeds the input `context_input` (a conditioned version's whole.onnx takes its style codes there)."""

    name = "onnxruntime-cpu"
    precision = "fp32"
    concurrent_calls = True  # InferenceSession.run is thread-safe

    def __init__(self, model_path: Path, threads: int = 0, output: str = OUTPUT_NAME,
                 context_input: str = CONTEXT_INPUT) -> None:
        try:
            self.session = open_session(model_path, threads)
        except Exception as exc:  # ORT raises its own exception types for every kind of bad file
            raise EngineError(f"ONNX Runtime cannot load {model_path.name}: {exc}") from None
        self._output = output
        self._context_input = context_input

    def inputs(self) -> dict[str, tuple[str, list]]:
        """Input name -> (element type, shape with None/str for dynamic dims)."""
        return {i.name: (i.type, list(i.shape)) for i in self.session.get_inputs()}

    def outputs(self) -> dict[str, tuple[str, list]]:
        return {o.name: (o.type, list(o.shape)) for o in self.session.get_outputs()}

    def context_size(self) -> int | None:
        """K of the model's [N, K] context input (`context_input`), or None when it takes none.
        Raises EngineError when K is not fixed (a str or None here)."""
        spec = self.inputs().get(self._context_input)
        return None if spec is None else context_width(self._context_input, spec[1][1])

    def execute(self, image: np.ndarray, context: np.ndarray | None = None, release_memory: bool = False) -> np.ndarray:
        """`release_memory`: the run ends by handing the shared arena's free memory back (onnx_session.py);
        runs without it keep the arena's pages warm for the next."""
        feeds = {INPUT_NAME: image}
        if context is not None:
            feeds[self._context_input] = context
        return self.session.run([self._output], feeds, SHRINK_ARENA if release_memory else None)[0]

    def run_named(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run with arbitrary named inputs (used for context models)."""
        return self.session.run([self._output], feeds)[0]

    def release_idle(self) -> None:
        """Hand the process's shared arena's free memory back (tessera/onnx_session.py) with one run of
        IDLE_SIDE px ones that ends with SHRINK_ARENA. The arena keeps every run's pages warm for the next
        (faulting them in again cost teacher-26 a quarter of its speed when a run every 5 s handed them
        back under load; docs/serving.md, "Memory"), so it goes back once the version is quiet. Memory
        other sessions' runs hold meanwhile stays theirs: a shrink frees only the arena's free chunks."""
        feeds = {i.name: np.ones([_idle_dim(axis, d) for axis, d in enumerate(i.shape)], np.float32)
                 for i in self.session.get_inputs()}
        self.session.run([self._output], feeds, SHRINK_ARENA)

    def finalize(self) -> None:
        self.session = None


# The side of release_idle's run: a multiple of every size multiple a version may ask for (at most 64).
IDLE_SIDE = 64


def _idle_dim(axis: int, dim: object) -> int:
    """One dimension of release_idle's input: a fixed one as it is, a free batch 1, a free side IDLE_SIDE."""
    if isinstance(dim, int) and dim > 0:
        return dim
    return 1 if axis == 0 else IDLE_SIDE
