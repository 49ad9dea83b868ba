"""ONNX Runtime on the CPU: the runtime every machine has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference_server.runtime import EngineError, context_width
from tessera.onnx_session import SHARED_ARENA, SHRINK_ARENA, open_session
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
        # (largest input's values, {input name: shape}) of the smallest run so far, for release_idle
        self._smallest: tuple[int, dict[str, tuple[int, ...]]] | None = None

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
        return self._run(feeds, SHRINK_ARENA if release_memory else None)

    def run_named(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run with arbitrary named inputs (used for context models)."""
        return self._run(feeds)

    def _run(self, feeds: dict[str, np.ndarray], options: ort.RunOptions | None = None) -> np.ndarray:
        """One run, counted on the shared arena; the smallest feeds that ran are kept, as shapes, for
        release_idle (a shape this model takes: its size multiple, its context's width)."""
        with SHARED_ARENA.running():
            output = self.session.run([self._output], feeds, options)[0]
        pixels = max(a.size for a in feeds.values())
        if self._smallest is None or pixels < self._smallest[0]:
            self._smallest = (pixels, {name: a.shape for name, a in feeds.items()})
        return output

    def release_idle(self) -> bool:
        """Hand the process's shared arena's free memory back (tessera/onnx_session.py): one run of ones
        in the smallest shape this session has run, ending with SHRINK_ARENA. The arena keeps every
        run's pages warm for the next (faulting them in again cost teacher-26 a quarter of its speed when
        a run every 5 s handed them back under load; docs/serving.md, "Memory"), so it goes back once the
        version is idle, and only while the process's other sessions are quiet too (no run in flight,
        none ended within ARENA_QUIET_S; SharedArenaActivity.shrink): a shrink frees every free chunk of
        the one arena. Returns False when the arena was in use (the batcher asks again), True otherwise,
        also for a session that never ran (nothing to do)."""
        if self._smallest is None:
            return True
        feeds = {name: np.ones(shape, np.float32) for name, shape in self._smallest[1].items()}
        return SHARED_ARENA.shrink(lambda options: self.session.run([self._output], feeds, options))

    def finalize(self) -> None:
        self.session = None
