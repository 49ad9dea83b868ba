"""Run directories: config, self-describing checkpoints, losses, sample grids and loss curves.

Layout of a run directory::

    config.json            the TrainConfig, with per-kind defaults resolved
    losses.jsonl           one {"step": n, "<loss>": value, ...} line per training step
    checkpoints/latest.pt  the newest checkpoint; step_<n>.pt are kept every checkpoint_every steps
    samples/step_<n>.png   input | output | target rows
    loss_curves.png        all losses so far

A checkpoint holds everything needed to rebuild and continue: the config, each network's weights
and constructor arguments, optimizer and scheduler state, the step and the RNG states, as tensors and
plain data only, so that it is loaded with torch.load(weights_only=True): a file holding other pickled
objects is refused, never run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer import networks, plots
from trainer.config import TrainConfig
from trainer.messages import not_a_torch_file, os_error

CHECKPOINT_FORMAT = "tessera-trainer-checkpoint/1"
CONFIG_FILE = "config.json"
GOOD = "good"  # checkpoints/good.pt: the newest checkpoint saved while the watchdog saw nothing wrong
LOSSES_FILE = "losses.jsonl"
TENSORBOARD_DIR = "tensorboard"


# Checkpoints written before the RNG states were plain data hold numpy's as a uint32 array: weights_only
# may rebuild numpy arrays (data, never code; the builder under its numpy 1 and numpy 2 names) so they still load.
_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_OLD_CHECKPOINT_GLOBALS = [np.ndarray, np.dtype, type(np.dtype(np.uint32)),
                           (_NUMPY_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
                           (_NUMPY_RECONSTRUCT, "numpy._core.multiarray._reconstruct")]


class RunError(ValueError):
    """A run directory or checkpoint is missing or unusable; the message says which and why."""


def new_run_dir(cfg: TrainConfig, root: Path = Path("runs")) -> Path:
    """``cfg.run_dir`` or runs/<kind>-<netG>-<timestamp>; refuses a directory that already has a run."""
    path = Path(cfg.run_dir) if cfg.run_dir else root / f"{cfg.kind}-{cfg.netG}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (path / "checkpoints" / "latest.pt").exists():
        raise RunError(f"{path} already holds a run; continue it with `resume {path}` or pick another run_dir")
    return path


def prepare(run_dir: Path, cfg: TrainConfig) -> None:
    """Create the directory tree and write config.json."""
    for sub in ("checkpoints", "samples"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / CONFIG_FILE)


def topmost_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (what ``prepare`` will create), or None."""
    path = Path(path)
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def discard_unstarted(run_dir: Path, created: Path | None) -> None:
    """Undo ``prepare`` for a run that failed before its first checkpoint (bad data, a missing teacher),
    so no empty run is left that ``resume`` would call checkpoint-less: config.json and the empty
    checkpoints/ and samples/ folders go, then the run folder and its parents while they are empty, up
    to ``created`` (the outermost folder ``prepare`` made, from ``topmost_missing``), like
    ``os.removedirs``. The run folder, when this run made it, goes with everything in it (its logs); no
    folder above it is removed with its contents: another run may have been started inside a folder this
    one created (two trainings in a fresh checkout both make runs/)."""
    run_dir = Path(run_dir)
    if checkpoint_path(run_dir).exists():
        return
    created = None if created is None else Path(created)
    if created is not None and (created == run_dir or created in run_dir.parents):
        # The run folder itself is new, so all of it is this run's: its logs too (a damaged image is met
        # in the loop, after losses.jsonl and the report are written).
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        (run_dir / CONFIG_FILE).unlink(missing_ok=True)
        for sub in ("checkpoints", "samples"):
            try:
                (run_dir / sub).rmdir()  # only when empty
            except OSError:
                pass
        return  # the run folder existed before: it stays
    folder = run_dir.parent
    if folder == run_dir or run_dir == created:
        return
    while True:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            return
        if folder == created:
            return
        folder = folder.parent


def checkpoint_choice(value: str) -> str:
    """argparse type of ``--checkpoint``: ``latest``, ``good`` or a step number (ArgumentTypeError else)."""
    if value in ("latest", GOOD) or value.isdecimal() and value.isascii():
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a step number (or latest)")


def checkpoint_path(run_dir: Path, which: str = "latest") -> Path:
    """``latest``, a step number, or a file name inside checkpoints/."""
    name = f"step_{int(which):07d}.pt" if which.isdigit() else which if which.endswith(".pt") else f"{which}.pt"
    return Path(run_dir) / "checkpoints" / name


def checkpoint_steps(run_dir: Path) -> list[int]:
    """The steps of the run's numbered checkpoints (step_<n>.pt), in order."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem[5:]) for p in folder.glob("step_*.pt") if p.stem[5:].isdecimal())


def _missing_checkpoint(run_dir: Path, which: str, path: Path) -> str:
    if not (Path(run_dir) / "checkpoints").is_dir():
        return f"no checkpoint {path} (is {run_dir} a run directory?)"
    steps = checkpoint_steps(run_dir)
    have = f"its numbered checkpoints are at steps {', '.join(map(str, steps))}" if steps else \
        "it has no numbered checkpoints"
    if which.isdigit():
        return f"{run_dir} has no checkpoint at step {int(which)}; {have}"
    return f"{run_dir} has no {path.name}; {have}"


def save_checkpoint(run_dir: Path, cfg: TrainConfig, model, step: int, keep: bool = False, good: bool = False) -> Path:
    """Write checkpoints/latest.pt atomically (and step_<n>.pt too when ``keep``, good.pt when ``good``)."""
    state = {"format": CHECKPOINT_FORMAT, "kind": cfg.kind, "config": dataclasses.asdict(cfg), "step": step,
             "rng": rng_state(), **model.state_dict()}
    latest = checkpoint_path(run_dir)
    tmp = latest.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, latest)  # a reader never sees half a checkpoint
    if keep:
        torch.save(state, checkpoint_path(run_dir, str(step)))
    if good:
        shutil.copyfile(latest, tmp)
        os.replace(tmp, checkpoint_path(run_dir, GOOD))
    return latest


def load_good_checkpoint(run_dir: Path) -> dict | None:
    """The newest checkpoint saved while the run was healthy (trainer/watchdog.py), or None."""
    if not checkpoint_path(run_dir, GOOD).is_file():
        return None
    return load_checkpoint(run_dir, GOOD)


def load_checkpoint(run_dir: Path, which: str = "latest") -> dict:
    """The checkpoint as a dict; RunError if it is missing or not a trainer checkpoint."""
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        raise RunError(_missing_checkpoint(run_dir, which, path))
    try:
        with torch.serialization.safe_globals(_OLD_CHECKPOINT_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise RunError(f"cannot read checkpoint {os_error(exc)}") from None
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise RunError(not_a_torch_file(path, exc, "PyTorch checkpoint")) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} is not a Tessera trainer checkpoint")
    return state


def rng_state() -> dict:
    """This process's torch, numpy and Python RNG states as a checkpoint keeps them: tensors and plain
    data (numpy's key array as a list of ints); ``restore_rng`` sets them again."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": (name, key.tolist(), pos, has_gauss, gauss),
            "python": random.getstate()}


def restore_rng(state: dict) -> None:
    """Sets the RNG states of a checkpoint (``rng_state``; numpy's key may be an array in old ones)."""
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])


def load_generator(run_dir: Path, which: str = "latest", border: int | None = None) -> tuple[nn.Module, dict]:
    """The trained A->B generator in eval mode, and {"config", "model_args", "step", "kind"}.

    For CycleGAN that is G_A. ``model_args`` rebuild it with ``networks.define_G(**model_args)``.
    ``border`` (compact only) serves the same weights with that image border (trainer.compact): how
    ``evaluate --border`` and ``export --border`` measure and ship weights trained without one.
    """
    state = load_checkpoint(Path(run_dir), which)
    name = state["generator"]
    args = dict(state["net_args"][name])
    if border is not None:
        if args.get("arch") not in ("compact", "compact_code"):
            raise RunError(f"--border works with the compact generator only, not {args.get('arch')}")
        args["border"] = border
    net = networks.define_G(**args)
    net.load_state_dict(state["nets"][name])
    info = {"config": state["config"], "model_args": args, "step": state["step"], "kind": state["kind"]}
    return net.eval(), info


def load_discriminator(run_dir: Path, which: str = "latest") -> tuple[nn.Module, bool, dict] | None:
    """(discriminator in eval mode, conditional, info) of the served direction, or None when the run has none.

    pix2pix and distillation: ``D`` on (input, output) pairs, conditional; CycleGAN: ``D_A``, which judges
    domain B, the served generator's outputs.
    """
    state = load_checkpoint(Path(run_dir), which)
    name = "D_A" if state["generator"] == "G_A" else "D"
    if name not in state["nets"]:
        return None
    args = dict(state["net_args"][name])
    net = networks.define_D(**args)
    net.load_state_dict(state["nets"][name])
    info = {"config": state["config"], "step": state["step"], "kind": state["kind"]}
    return net.eval(), args["input_nc"] == 6, info


class RunLog:
    """Appends losses and draws pictures for the main process; with ``tensorboard`` also writes them as
    TensorBoard event files in <run>/tensorboard (scalars every step, sample grids and realism maps)."""

    def __init__(self, run_dir: Path, tensorboard: bool = False):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOSSES_FILE
        self.board = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # optional and heavy: only when asked for

            self.board = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR))

    def close(self) -> None:
        if self.board is not None:
            self.board.close()

    def truncate(self, step: int) -> None:
        """Drop records at or after ``step`` (written after the checkpoint a resume starts from)."""
        kept = [r for r in read_losses(self.run_dir) if r["step"] < step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def append(self, step: int, losses: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **losses}) + "\n")
        if self.board is not None:
            for name, value in losses.items():
                self.board.add_scalar(f"loss/{name}", value, step)

    def pictures(self, step: int, visuals: list[torch.Tensor]) -> None:
        """Sample grid for ``step`` and the loss curves so far."""
        if visuals:
            plots.save_grid(visuals, self.run_dir / "samples" / f"step_{step:07d}.png")
            if self.board is not None:
                grid = plots.grid_array(visuals)
                self.board.add_image("samples", grid, step, dataformats="HWC")
                if len(visuals) > 3:  # the last column is the realism map of the output
                    self.board.add_image("realism", plots.grid_array(visuals[-1:]), step, dataformats="HWC")
                self.board.flush()
        plots.save_loss_curves(read_losses(self.run_dir), self.run_dir / "loss_curves.png")


def read_losses(run_dir: Path) -> list[dict]:
    """All records of losses.jsonl (empty when there is none yet)."""
    path = Path(run_dir) / LOSSES_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
