"""ONNX Runtime speed of the compact generator on 2 threads, in megapixels of output per second.

Tiles carry the decoder's measured halo on each side (36 px for the resize decoder, 32 for pixel
shuffle), so a tile of 256 output pixels is a 328 or 320 px input; MP/s counts output (core) pixels
only, which is what a user
gets. A whole 1024x1024 image (no tiling) is the ceiling. Run alone: ``python -m bench.compact_speed``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from bench.ceiling import matmul_gflops
from tessera.onnx_session import open_session
from trainer.networks import count_gflops, define_G
from trainer.onnx_export import export_generator

THREADS = 2
HALOS = {"resize": 36, "shuffle": 32}
SECONDS = 3.0
# (what, batch, core side, halo on?)
CASES = [("tile 256 + halo", 1, 256, True), ("tile 256 + halo", 4, 256, True), ("tile 512 + halo", 1, 512, True),
         ("whole image", 1, 1024, False)]


def _session(path: Path) -> ort.InferenceSession:
    return open_session(path, THREADS)


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
    """Rows {"model", "input", "batch", "mp_per_s", "gflops_per_256", "of_matmul"} for both decoders.

    ``of_matmul`` is the achieved GFLOP/s (halo included) over the matmul rate measured just before,
    which stays comparable when other work shares the machine.
    """
    rows = []
    for upsample in ("resize", "shuffle"):
        model = define_G("compact", context_dim=6, upsample=upsample, seed=0).eval()
        gflops = count_gflops(model, 256)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "compact.onnx"
            export_generator(model, path, torch.rand(1, 3, 64, 64) * 2 - 1, torch.zeros(1, 6))
            session = _session(path)
            for what, batch, core, tiled in CASES:
                side = core + 2 * HALOS[upsample] if tiled else core
                ceiling = matmul_gflops(THREADS)
                mp = _mp_per_s(session, batch, side, core)
                achieved = mp * 1e6 * (side / core) ** 2 * gflops / 256**2
                rows.append({"model": f"compact ({upsample})", "input": f"{what} ({side}px in)", "batch": batch,
                             "mp_per_s": mp, "gflops_per_256": round(gflops, 3), "of_matmul": achieved / ceiling})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
