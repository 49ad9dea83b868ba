"""The training loop shared by every kind: batches, steps, logging, pictures and checkpoints.

Exact resumption rests on three facts: a batch depends only on (seed, step, rank) (see data.py),
the torch RNG is reseeded from (seed, step, rank) before each step (dropout), and checkpoints hold
all optimizer, scheduler and model state. Deterministic algorithms are switched on for the CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from trainer import runs
from trainer.config import TrainConfig
from trainer.data import build_source
from trainer.distributed import DistContext
from trainer.models import build_model


def configure_torch(cfg: TrainConfig, ctx: DistContext) -> None:
    torch.set_num_threads(cfg.num_threads)
    # On GPUs bit-exactness would need cuBLAS settings and cost speed; there it is best effort.
    torch.use_deterministic_algorithms(True, warn_only=ctx.device.type == "cuda")


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, 3000 + rank, step]).generate_state(1)[0])


def make_teacher(cfg: TrainConfig):
    """The ONNX teacher for distillation (imported lazily: other kinds need no onnxruntime)."""
    from trainer.teacher import OnnxTeacher

    return OnnxTeacher(cfg.teacher_onnx, cfg.teacher_style, cfg.teacher_range, threads=cfg.num_threads)


def train(cfg: TrainConfig, run_dir: Path, ctx: DistContext, state: dict | None = None,
          progress: bool = True) -> list[dict]:
    """Train from step 0, or from ``state`` (a checkpoint), up to ``cfg.steps``; return the loss records.

    Only the main process writes into ``run_dir``; the records are averaged over all processes.
    """
    configure_torch(cfg, ctx)
    teacher = make_teacher(cfg) if cfg.kind == "distill" else None
    source = build_source(cfg, ctx.rank, ctx.world, teacher)
    model = build_model(cfg, ctx)
    start = 0
    if state is not None:
        model.load_state_dict(state)
        runs.restore_rng(state)
        start = state["step"]
    log = runs.RunLog(run_dir) if ctx.is_main else None
    if log:
        log.truncate(start)
    records = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not (ctx.is_main and progress),
               desc=f"{cfg.kind} {cfg.netG}", dynamic_ncols=True)
    for step in bar:
        torch.manual_seed(step_seed(cfg.seed, step, ctx.rank))
        batch = {k: v.to(ctx.device) for k, v in source.batch(step).items()}
        losses = ctx.mean(model.train_step(batch, step))
        model.step_schedulers()
        records.append({"step": step, **losses})
        done = step + 1
        if log:
            log.append(step, losses)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            _maybe_save(cfg, run_dir, log, model, done)
    ctx.check_in_sync(model.nets)
    return records


def _maybe_save(cfg: TrainConfig, run_dir: Path, log: runs.RunLog, model, done: int) -> None:
    """Pictures and latest.pt every sample_every steps; a numbered checkpoint every checkpoint_every
    steps and at the last step (so a finished run always has step_<steps>.pt)."""
    last = done == cfg.steps
    keep = done % cfg.checkpoint_every == 0 or last
    if done % cfg.sample_every == 0 or last or keep:
        log.pictures(done, model.last_visuals)
        runs.save_checkpoint(run_dir, cfg, model, done, keep=keep)
