"""The training loop shared by every kind: batches, steps, logging, pictures and checkpoints.

Exact resumption rests on three facts: a batch depends only on (seed, step, rank) (see data.py),
the torch RNG is reseeded from (seed, step, rank) before each step (dropout), and checkpoints hold
all optimizer, scheduler and model state. Deterministic algorithms are switched on for the CPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from trainer import runs
from trainer.config import TrainConfig
from trainer.distributed import DistContext
from trainer.models import build_model
from trainer.sources import build_source
from trainer.watchdog import TrainingStopped, Watchdog, diversity, write_event, write_report


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
    log = runs.RunLog(run_dir, tensorboard=cfg.tensorboard) if ctx.is_main else None
    if log:
        log.truncate(start)
    watchdog = Watchdog(cfg, model.d_loss_names, model.g_adversarial_names) if cfg.watchdog != "off" else None
    probe = {k: v.to(ctx.device) for k, v in source.probe().items()} if watchdog else None
    records: list[dict] = []
    bar = tqdm(total=cfg.steps, initial=start, disable=not (ctx.is_main and progress),
               desc=f"{cfg.kind} {cfg.netG}", dynamic_ncols=True)
    step, finished = start, False
    try:
        while step < cfg.steps:
            torch.manual_seed(step_seed(cfg.seed, step, ctx.rank))
            batch = {k: v.to(ctx.device) for k, v in source.batch(step).items()}
            losses = ctx.mean(model.train_step(batch, step))
            model.step_schedulers()
            problem = _health(cfg, watchdog, model, probe, step, losses)
            if problem is not None:
                step = _handle(watchdog, problem, step, run_dir, ctx, model, log, bar)
                continue
            records.append({"step": step, **losses})
            step += 1
            bar.update(1)
            if log:
                log.append(step - 1, losses)
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                _maybe_save(cfg, run_dir, log, model, step, watchdog)
        finished = True
    finally:
        bar.close()
        if log:
            log.close()
            write_report(run_dir, watchdog, step, finished, model.lr_scale)
    ctx.check_in_sync(model.nets)
    return records


def _health(cfg: TrainConfig, watchdog: Watchdog | None, model, probe, step: int, losses: dict):
    """(problem, message) when the watchdog sees one at this step, else None."""
    if watchdog is None:
        return None
    problem = watchdog.check_losses(step, losses)
    if problem is None and watchdog.checks_diversity(step) and len(probe["A"]) > 1:
        problem = watchdog.check_diversity(step, diversity(model.generate(probe)))
    return problem


def _handle(watchdog: Watchdog, problem: tuple[str, str], step: int, run_dir: Path, ctx: DistContext, model,
            log: runs.RunLog | None, bar) -> int:
    """Act on a problem: the step to go on from after a rollback; TrainingStopped otherwise (warn: next step)."""
    action = watchdog.decide(step, *problem)
    state = runs.load_good_checkpoint(run_dir) if action == "rolled_back" else None
    if action == "rolled_back" and state is None:
        watchdog.events[-1] = replace(watchdog.events[-1], action="stopped",
                                      message=watchdog.events[-1].message + " (no healthy checkpoint to return to)")
        action = "stopped"
    if ctx.is_main:
        write_event(run_dir, watchdog.events[-1])
        tqdm.write(f"training health: {watchdog.events[-1].message} -> {action.replace('_', ' ')}")
    if action == "stopped":
        raise TrainingStopped(watchdog.events[-1].message)
    if action == "warned":
        return step + 1
    scale = model.lr_scale * watchdog.cfg.watch_lr_factor
    model.load_state_dict(state)
    runs.restore_rng(state)
    model.scale_lr(scale / model.lr_scale)
    if log:
        log.truncate(state["step"])
    bar.n = state["step"]
    return state["step"]


def _maybe_save(cfg: TrainConfig, run_dir: Path, log: runs.RunLog, model, done: int,
                watchdog: Watchdog | None) -> None:
    """Pictures and latest.pt every sample_every steps; a numbered checkpoint every checkpoint_every
    steps and at the last step (so a finished run always has step_<steps>.pt). A checkpoint saved while
    the watchdog saw nothing wrong since the last one is also the run's good.pt, where rollbacks go."""
    last = done == cfg.steps
    keep = done % cfg.checkpoint_every == 0 or last
    if done % cfg.sample_every == 0 or last or keep:
        log.pictures(done, model.sample_visuals())
        runs.save_checkpoint(run_dir, cfg, model, done, keep=keep, good=watchdog is not None and watchdog.saved())
