"""ONNX Runtime speed of the compact generator on 2 threads, in megapixels of output per second.

Tiles carry a 32 px halo on each side (the generator's measured receptive field), so a tile of
256 output pixels is a 320 px input; MP/s counts output (core) pixels only, which is what a user
gets. A whole 1024x1024 image (no tiling) is the ceiling. Run alone: ``python -m bench.compact_speed``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from trainer.networks import count_gflops, define_G
from trainer.onnx_export import export_generator

THREADS = 2
HALO = 32
SECONDS = 4.0
# (what, batch, input side, core side)
CASES = [("tile 256 + halo", 1, 256 + 2 * HALO, 256), ("tile 256 + halo", 4, 256 + 2 * HALO, 256),
         ("tile 512 + halo", 1, 512 + 2 * HALO, 512), ("whole image", 1, 1024, 1024)]


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _mp_per_s(session: ort.InferenceSession, batch: int, side: int, core: int) -> float:
    rng = np.random.default_rng(0)
    feeds = {"image": rng.uniform(-1, 1, (batch, 3, side, side)).astype(np.float32),
             "context": rng.uniform(-1, 1, (batch, 6)).astype(np.float32)}
    session.run(None, feeds)
    started, runs = time.perf_counter(), 0
    while time.perf_counter() - started < SECONDS:
        session.run(None, feeds)
        runs += 1
    return runs * batch * core * core / (time.perf_counter() - started) / 1e6


def run() -> list[dict]:
    """Rows {"model", "input", "batch", "mp_per_s", "gflops_per_256"} for the shipped compact design."""
    model = define_G("compact", context_dim=6, seed=0).eval()
    gflops = round(count_gflops(model, 256), 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "compact.onnx"
        example = torch.rand(1, 3, 64, 64) * 2 - 1
        export_generator(model, path, example, torch.zeros(1, 6))
        session = _session(path)
        return [{"model": "compact", "input": f"{what} ({side}px in)", "batch": batch,
                 "mp_per_s": _mp_per_s(session, batch, side, core), "gflops_per_256": gflops}
                for what, batch, side, core in CASES]


if __name__ == "__main__":
    for row in run():
        print(row)
