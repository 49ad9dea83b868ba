"""The training loop of the window distillations (cin_distill, cin_code_distill): settings, checkpoints, steps.

Both train a student on cached (window, teacher painting) pairs by

    lambda_l1 * L1 + lambda_vgg * vgg16_feature_distance + lambda_hf * detail_term
        + lambda_color * color_term + lambda_gan * BCE(critic(photo, output, *other inputs), real)

with Adam at ``lr``, falling linearly to zero over the second half of ``steps``. The adversarial
term needs a critic from the caller (cin-code-distill's conditional PatchGAN, trainer/projection_d.py),
trained in the same step on the teacher's paintings as real and the student's as fake (pix2pix's
BCE on logits, trainer/losses.GANLoss; Adam at ``lr`` with beta1 0.5). A run's settings
are a dataclass with ``kind``, ``net_args()``, ``validate()`` and the fields used here. Checkpoints
use the trainer's format (trainer/runs.py: ``latest.pt`` every step, numbered ones every
``checkpoint_every``), so ``--resume`` works as for every run (and a cin_distill run is evaluated and
exported like any other; a cin_code_distill one goes through ``export-conditioned``). The batches are
a function of (seed, step) only, so a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer import runs
from trainer.messages import one_line

# (inputs to the student, the teacher's painting) of one step
Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


@dataclass
class WindowDistillSettings:
    """The settings every window distillation has (a run's config.json holds them and its own)."""

    data_a: str = "data/photos/train"
    run_dir: str = ""
    width: int = 32           # residual trunk channels (multistyle26: 32)
    stem: int = 16            # channels of the full-resolution 9x9 stem (multistyle26: 32)
    n_blocks: int = 3         # residual blocks at 1/4 resolution (multistyle26: 6)
    sizes: tuple = (512, 1024, 2048, 4096)  # longer sides the training photos are resized to
    crop_sides: tuple = (128, 256)
    crops: tuple = (12, 3)    # windows for each crop side (per photo and size, or per look)
    batch_pixels: int = 65536  # a batch of 128 px windows holds 4, of 256 px 1
    steps: int = 1500
    lr: float = 5e-4
    lambda_l1: float = 1.0
    lambda_vgg: float = 1.0
    lambda_hf: float = 0.0    # squared log ratio of the batch's fine-detail energy to the teacher's
    lambda_color: float = 0.0  # per-window colour means and contrasts against the teacher's (color_term)
    lambda_gan: float = 0.0   # the critic's adversarial term (only where the distillation has a critic)
    seed: int = 0
    checkpoint_every: int = 100
    num_threads: int = 1


def say(*parts) -> None:
    """print, flushed (runs go to log files in the background)."""
    print(*parts, flush=True)


def load_settings(path: Path, cls, tuple_keys: tuple[str, ...]):
    """``cls`` from a JSON file (its ``kind`` ignored, lists in ``tuple_keys`` made tuples), validated;
    ValueError naming unknown settings or the first one out of range."""
    raw = json.loads(Path(path).read_text())
    raw.pop("kind", None)
    unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    for key in tuple_keys:
        if key in raw:
            raw[key] = tuple(raw[key])
    cfg = cls(**raw)
    cfg.validate()
    return cfg


def check(cfg, own: list[tuple[str, bool, str]]) -> None:
    """ValueError naming the first setting out of range: ``own`` checks (name, ok, what it must be),
    then those of the settings every window distillation has."""
    from trainer.cin_student import TEACHER_BLOCKS, TEACHER_WIDTH

    shared = [("width", 1 <= cfg.width <= TEACHER_WIDTH, f"1 to {TEACHER_WIDTH}"),
              ("stem", 0 <= cfg.stem <= TEACHER_WIDTH, f"0 (= width) to {TEACHER_WIDTH}"),
              ("n_blocks", 1 <= cfg.n_blocks <= TEACHER_BLOCKS, f"1 to {TEACHER_BLOCKS}"),
              ("sizes", bool(cfg.sizes) and all(s >= 16 for s in cfg.sizes), "photo sides of 16 px or more"),
              ("crop_sides", bool(cfg.crop_sides) and all(c >= 16 and c % 4 == 0 for c in cfg.crop_sides),
               "multiples of 4 from 16"),
              ("crops", len(cfg.crops) == len(cfg.crop_sides) and all(n >= 1 for n in cfg.crops),
               "one count of 1 or more per crop side"),
              ("steps", cfg.steps >= 1, "1 or more"), ("lr", cfg.lr > 0, "above 0"),
              *[(name, getattr(cfg, name) >= 0, "0 or more")
                for name in ("lambda_l1", "lambda_vgg", "lambda_hf", "lambda_color", "lambda_gan")],
              ("checkpoint_every", cfg.checkpoint_every >= 1, "1 or more")]
    for name, ok, want in own + shared:
        if not ok:
            raise ValueError(f"setting {name} must be {want}, got {getattr(cfg, name)!r}")


def photos_at_sizes(cfg) -> Iterator[tuple[Path, np.ndarray]]:
    """(file, uint8 HxWx3 photo resized so its longer side is each of ``cfg.sizes``; bicubic, sides
    multiples of 4) for every training photo of ``cfg.data_a``, in file order."""
    from trainer.data import list_images, load_image
    from trainer.likeness_figures import resized

    for file in list_images(cfg.data_a):
        original = np.asarray(load_image(file))
        for size in cfg.sizes:
            yield file, resized(original, size)


def windows(rng: np.random.Generator, photo: np.ndarray, sides, counts) -> Iterator[tuple[int, np.ndarray]]:
    """(side, window) for ``counts[i]`` random windows of each side ``sides[i]`` of ``photo``, on the
    4 px grid; none of a side the photo is smaller than."""
    h, w = photo.shape[:2]
    for side, count in zip(sides, counts, strict=True):
        if min(h, w) < side:
            continue
        for _ in range(count):
            y = int(rng.integers(0, h - side + 1)) // 4 * 4
            x = int(rng.integers(0, w - side + 1)) // 4 * 4
            yield side, np.ascontiguousarray(photo[y:y + side, x:x + side])


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into ``path`` through a temporary file, so an interrupted write leaves no file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def step_windows(pairs: dict[str, np.ndarray], cfg, step: int) -> tuple[int, np.ndarray]:
    """(crop side, indices of the windows of that side) of one step: the steps alternate between
    ``cfg.crop_sides``, with about ``cfg.batch_pixels`` pixels a batch, drawn as a function of (seed,
    step) only, so a resumed run sees the batches an uninterrupted one would."""
    side = cfg.crop_sides[step % len(cfg.crop_sides)]
    rng = np.random.default_rng([cfg.seed, step])
    n = max(1, cfg.batch_pixels // (side * side))
    return side, rng.choice(len(pairs[f"a{side}"]), size=n, replace=False)


def signed(batch: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def detail_term(out: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(log of the batch's high-frequency luminance energy over the teacher's)^2: 0 when the output holds
    as much detail finer than 4 px as the target, whatever its place. The evaluation's hf_energy_ratio
    is the same ratio over windows; L1 and the feature distance alone left the student at 0.6 of it."""
    from trainer.likeness import hf_energy

    return (torch.log(hf_energy(out).sum() + eps) - torch.log(hf_energy(target).sum() + eps)) ** 2


def color_term(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each window's per-channel mean and standard deviation ([N, 3, H, W]
    in [-1, 1]): 0 when every window has the teacher's average colour and colour contrast, wherever
    its strokes lie. The VGG16 feature distance normalises each feature vector and barely sees colour;
    L1 pays as much for a stroke in another place as for a wrong palette."""
    mean_gap = (out.mean(dim=(2, 3)) - target.mean(dim=(2, 3))).abs().mean()
    std_gap = (out.std(dim=(2, 3)) - target.std(dim=(2, 3))).abs().mean()
    return mean_gap + std_gap


def lr_factor(steps: int, step: int) -> float:
    """1 over the first half of ``steps``, then falling linearly to 0."""
    half = steps // 2
    return 1.0 if step < half else max(0.0, (steps - step) / max(1, steps - half))


def save(run_dir: Path, cfg, nets: dict, optimizers: dict, net_args: dict, step: int, keep: bool) -> None:
    """Write ``latest.pt`` (atomically) and, with ``keep``, the numbered checkpoint of ``step``; ``nets``,
    ``optimizers`` and ``net_args`` (what rebuilds each net) by role ("G", and "D" for a critic)."""
    config = {"kind": cfg.kind, **dataclasses.asdict(cfg)}
    state = {"format": runs.CHECKPOINT_FORMAT, "kind": cfg.kind, "config": config, "step": step, "generator": "G",
             "net_args": net_args, "nets": {k: n.state_dict() for k, n in nets.items()},
             "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
             "rng": runs.rng_state()}
    latest = runs.checkpoint_path(run_dir)
    tmp = latest.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(latest)
    if keep:
        torch.save(state, runs.checkpoint_path(run_dir, str(step)))


def prepare(cfg, run_dir: Path) -> None:
    """The run folder with its config.json; the torch thread count of the run."""
    torch.set_num_threads(cfg.num_threads)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({"kind": cfg.kind, **dataclasses.asdict(cfg)}, indent=2) + "\n")


def train(cfg, run_dir: Path, net: torch.nn.Module, batches: Callable[[int], Batch], resume: bool, log=say,
          critic: tuple[torch.nn.Module, dict] | None = None) -> None:
    """Train ``net`` (or continue from the run's latest checkpoint) up to ``cfg.steps``; an interrupt
    (Ctrl-C, a budget's SIGINT) keeps the last finished step. ``critic`` is (module, the arguments
    that rebuild it): ``module(photo, painting, *other inputs)`` -> logits (the batch's first input is
    the photo), trained beside the student when ``cfg.lambda_gan`` > 0; a run resumed with the term
    newly switched on starts a fresh critic. ValueError when lambda_gan is set without a critic."""
    from trainer.vgg16_trunk import load_vgg16_trunk

    if cfg.lambda_gan > 0 and critic is None:
        raise ValueError("setting lambda_gan needs a critic, which only cin-code-distill trains")
    nets, net_args = {"G": net.train()}, {"G": cfg.net_args()}
    optimizers = {"G": torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))}
    if cfg.lambda_gan > 0:
        nets["D"], net_args["D"] = critic[0].train(), critic[1]
        optimizers["D"] = torch.optim.Adam(nets["D"].parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    step = 0
    if resume:
        state = runs.load_checkpoint(run_dir)
        for role in nets:
            if role not in state["nets"]:
                log(f"the checkpoint has no {role}: it starts fresh at step {state['step']}")
                continue
            nets[role].load_state_dict(state["nets"][role])
            optimizers[role].load_state_dict(state["optimizers"][role])
        step = state["step"]
    losses_path = run_dir / runs.LOSSES_FILE
    if losses_path.exists():  # drop records written after the checkpoint we continue from
        kept = [line for line in losses_path.read_text().splitlines() if json.loads(line)["step"] < step]
        losses_path.write_text("".join(line + "\n" for line in kept))
    try:
        _steps(cfg, run_dir, (nets, optimizers, net_args), load_vgg16_trunk(), batches, step, losses_path, log)
    except KeyboardInterrupt:
        log("interrupted; the latest checkpoint holds the last finished step")


def _adversarial(critic, gan_loss, inputs, out) -> torch.Tensor:
    """The student's adversarial term: the critic should take its painting for the teacher's. The
    critic's own weights get no gradient from it."""
    critic.requires_grad_(False)
    try:
        return gan_loss(critic(inputs[0], out, *inputs[1:]), True)
    finally:
        critic.requires_grad_(True)


def _critic_step(critic, optimizer, gan_loss, inputs, out, target) -> float:
    """One step of the critic: the teacher's painting real, the student's (detached) fake."""
    optimizer.zero_grad(set_to_none=True)
    photo, rest = inputs[0], inputs[1:]
    loss = 0.5 * (gan_loss(critic(photo, target, *rest), True) + gan_loss(critic(photo, out.detach(), *rest), False))
    loss.backward()
    optimizer.step()
    return loss.item()


def _steps(cfg, run_dir: Path, training: tuple[dict, dict, dict], trunk, batches, step: int, losses_path: Path,
           log) -> None:
    """Steps up to ``cfg.steps``; ``training`` is (nets, optimizers, net_args) by role."""
    from trainer.likeness import feature_distance
    from trainer.losses import GANLoss

    nets, optimizers, net_args = training
    net, critic, gan_loss = nets["G"], nets.get("D"), GANLoss("vanilla")
    while step < cfg.steps:
        start = time.monotonic()
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.steps, step)
        inputs, target = batches(step)
        out = net(*inputs)
        l1 = (out - target).abs().mean()
        with torch.no_grad():
            target_maps = trunk(target)
        vgg = feature_distance(trunk(out), target_maps).mean()
        hf = detail_term(out, target)
        color = color_term(out, target)
        gan = _adversarial(critic, gan_loss, inputs, out) if critic is not None else out.new_zeros(())
        loss = (cfg.lambda_l1 * l1 + cfg.lambda_vgg * vgg + cfg.lambda_hf * hf + cfg.lambda_color * color
                + cfg.lambda_gan * gan)
        optimizers["G"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["G"].step()
        record = {"step": step, "l1": round(l1.item(), 5), "vgg": round(vgg.item(), 5), "hf": round(hf.item(), 5),
                  "color": round(color.item(), 5)}
        if critic is not None:
            record |= {"gan": round(gan.item(), 5),
                       "d": round(_critic_step(critic, optimizers["D"], gan_loss, inputs, out, target), 5)}
        step += 1
        with losses_path.open("a") as f:
            f.write(json.dumps(record | {"side": inputs[0].shape[-1],
                                         "seconds": round(time.monotonic() - start, 2)}) + "\n")
        keep = step % cfg.checkpoint_every == 0 or step == cfg.steps
        save(run_dir, cfg, nets, optimizers, net_args, step, keep=keep)
        if keep:
            log(f"step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "step"))


def add_arguments(parser: argparse.ArgumentParser, settings: str) -> None:
    parser.add_argument("--config", type=Path, help=f"JSON settings ({settings}); run_dir names the run")
    parser.add_argument("--resume", type=Path, help="continue the run in this directory from its latest checkpoint")


def main(args: argparse.Namespace, command: str, load: Callable[[Path], object],
         run: Callable[[object, Path, bool], None], default_run_dir: Callable[[object], str]) -> int:
    """The CLI of a distillation: ``--config FILE`` starts a run, ``--resume RUN`` continues one; a bad
    setting, a missing file or a run folder already in use is one line on stderr and exit code 2."""
    try:
        if args.resume:
            run(load(args.resume / runs.CONFIG_FILE), args.resume, True)
            return 0
        if args.config is None:
            print(f"{command}: give --config FILE or --resume RUN", file=sys.stderr)
            return 2
        cfg = load(args.config)
        run_dir = Path(cfg.run_dir or default_run_dir(cfg))
        if runs.checkpoint_path(run_dir).exists():
            print(f"{command}: {run_dir} already holds a run; use --resume {run_dir}", file=sys.stderr)
            return 2
        run(cfg, run_dir, False)
    except (ValueError, OSError, runs.RunError) as exc:
        print(f"{command}: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0
