"""``fit-critic``: give a registry version a critic after the fact, and publish it as a new version.

For versions whose training checkpoints (and so their discriminators) are gone, a PatchGAN is fitted
against the version's own outputs with the generator frozen: "real" is what the generator was taught
to produce (the teacher's output on the same photo for distilled styles, a conditional critic that
sees the photo too; target-style images for unpaired ones) and "fake" is what the served ONNX model
makes of the same photos. It is not the discriminator that judged the generator in training, and
the manifest says so (``critic.origin: post-hoc``). The fitted critic has no normalisation layers,
so it behaves the same in training and at serving time and is tile-safe.

Progress goes to ``<run_dir>/critic_fit.jsonl``; ``<run_dir>/critic.pt`` is a checkpoint from which
an interrupted fit resumes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from tessera import registry
from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw, rgb8_to_nchw
from tessera.registry.manifest import load_json
from trainer.critic_export import CRITIC_FILE, critic_section, export_critic
from trainer.data import DataError, fit_to_grid, list_images, load_image
from trainer.losses import GANLoss
from trainer.messages import not_a_torch_file, one_line
from trainer.networks import define_D
from trainer.onnx_export import session
from trainer.registry_writes import check_destination, write_version
from trainer.teacher import TeacherError
from trainer.tiled_check import run_whole

TRAINING_SIDE = 768  # longest side of the photos, as the distilled styles were trained


def served_output(version_dir: Path, manifest, photo: np.ndarray) -> np.ndarray:
    """What the version makes of an HxWx3 uint8 photo (whole image with its image border, context from
    its thumbnail)."""
    feeds = {}
    if manifest.context_onnx is not None:
        thumb = rgb8_to_nchw(make_thumbnail(photo, manifest.tiling.thumbnail_size))
        context = session(version_dir / manifest.context_onnx.file).run(None, {registry.THUMBNAIL_INPUT: thumb})[0]
        feeds[registry.CONTEXT_INPUT] = context
    generator = session(version_dir / manifest.onnx.file)

    def run(batch: np.ndarray) -> np.ndarray:
        return generator.run(None, {registry.INPUT_NAME: batch, **feeds})[0]

    return chw_to_rgb8(run_whole(run, rgb8_to_chw(photo), manifest.tiling.size_multiple, manifest.tiling.border))


def _load_photos(folder: str, multiple: int) -> list[np.ndarray]:
    return [np.asarray(fit_to_grid(load_image(p), TRAINING_SIDE, 128, p)) for p in list_images(folder)][:64]


def _crop(rng: np.random.Generator, images: list[np.ndarray], size: int) -> list[np.ndarray]:
    """The same random crop (on a 4 px grid) of every image in ``images``."""
    h, w = images[0].shape[:2]
    y = int(rng.integers(0, (h - size) // 4 + 1)) * 4
    x = int(rng.integers(0, (w - size) // 4 + 1)) * 4
    return [im[y:y + size, x:x + size] for im in images]


def _batch(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in arrays]).astype(np.float32) / 127.5 - 1.0)


class Examples:
    """(photo, real, fake) triples to crop: real is the teacher's output (conditional) or a target image."""

    def __init__(self, photos: list[np.ndarray], fakes: list[np.ndarray], reals: list[np.ndarray],
                 conditional: bool, crop: int):
        self.photos, self.fakes, self.reals, self.conditional, self.crop = photos, fakes, reals, conditional, crop

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(real inputs, fake inputs) for the critic: 6 channels (photo, image) when conditional."""
        real, fake = [], []
        for _ in range(size):
            i = int(rng.integers(len(self.photos)))
            if self.conditional:
                photo, r, f = _crop(rng, [self.photos[i], self.reals[i], self.fakes[i]], self.crop)
                real.append(np.concatenate([photo, r], 2))
                fake.append(np.concatenate([photo, f], 2))
            else:
                (f,) = _crop(rng, [self.fakes[i]], self.crop)
                (r,) = _crop(rng, [self.reals[int(rng.integers(len(self.reals)))]], self.crop)
                real.append(r)
                fake.append(f)
        return _batch(real), _batch(fake)


def fit(examples: Examples, run_dir: Path, steps: int, lr: float = 2e-4, ndf: int = 16, n_layers: int = 2,
        batch_size: int = 4, seed: int = 0, log=print) -> torch.nn.Module:
    """Train a norm-free PatchGAN on ``examples`` for ``steps`` (resuming from run_dir/critic.pt)."""
    input_nc = 6 if examples.conditional else 3
    d = define_D(input_nc, ndf=ndf, n_layers=n_layers, norm="none", seed=seed)
    opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    loss_fn = GANLoss("vanilla")
    checkpoint, start = run_dir / "critic.pt", 0
    if checkpoint.exists():
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except OSError:
            raise
        except Exception as exc:  # torch raises several types for truncated or foreign files
            raise ValueError(not_a_torch_file(checkpoint, exc, "critic checkpoint")) from None
        d.load_state_dict(state["d"])
        opt.load_state_dict(state["opt"])
        start = state["step"]
    with (run_dir / "critic_fit.jsonl").open("a") as losses:
        for step in range(start, steps):
            real, fake = examples.batch(np.random.default_rng([seed, step]), batch_size)
            loss_real, loss_fake = loss_fn(d(real), True), loss_fn(d(fake), False)
            opt.zero_grad(set_to_none=True)
            (0.5 * (loss_real + loss_fake)).backward()
            opt.step()
            losses.write(json.dumps({"step": step, "D_real": loss_real.item(), "D_fake": loss_fake.item()}) + "\n")
            if (step + 1) % 100 == 0 or step + 1 == steps:
                torch.save({"d": d.state_dict(), "opt": opt.state_dict(), "step": step + 1}, checkpoint)
                losses.flush()
                log(f"step {step + 1}/{steps}: D_real {loss_real.item():.3f} D_fake {loss_fake.item():.3f}")
    return d.eval()


def holdout_scores(d: torch.nn.Module, examples: Examples) -> dict:
    """Mean probability "real" the critic gives to real and to fake hold-out crops (256 px)."""
    rng = np.random.default_rng(12345)
    with torch.no_grad():
        real, fake = examples.batch(rng, 16)
        return {"critic_holdout_real_prob": round(float(torch.sigmoid(d(real)).mean()), 4),
                "critic_holdout_fake_prob": round(float(torch.sigmoid(d(fake)).mean()), 4)}


def publish_with_critic(registry_root: Path, style: str, version_dir: Path, d: torch.nn.Module,
                        conditional: bool, section: dict, figures: dict) -> int:
    """A new version of ``style``: the files of ``version_dir`` unchanged, plus critic.onnx."""
    manifest = load_json(version_dir / registry.MANIFEST_FILE)
    with tempfile.TemporaryDirectory(prefix="tessera-critic-") as tmp:
        critic_path = Path(tmp) / CRITIC_FILE
        figures = {**figures, **export_critic(d, critic_path, conditional)}
        files = {a["file"]: version_dir / a["file"] for role, a in manifest["artifacts"].items() if role != "tensorrt"}
        files[CRITIC_FILE] = critic_path
        artifacts = {role: {"file": a["file"]} for role, a in manifest["artifacts"].items() if role != "tensorrt"}
        artifacts["critic"] = {"file": CRITIC_FILE}
        new = {k: v for k, v in manifest.items() if k not in ("format_version", "style", "version", "created")}
        new |= {"artifacts": artifacts, "critic": section,
                "export": {**manifest.get("export", {}), **figures, "critic_added_to_version": manifest["version"]}}
        return write_version(registry_root, style, files, new)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", type=Path, required=True, help="model registry directory")
    parser.add_argument("--style", required=True, help="style id")
    parser.add_argument("--version", type=int, default=0, help="version to judge (default: the newest)")
    parser.add_argument("--photos", required=True, help="training photos (the generator's inputs)")
    parser.add_argument("--holdout", default="", help="hold-out photos, for the figures in the manifest")
    parser.add_argument("--teacher-onnx", default="", help="distilled styles: the teacher (conditional critic)")
    parser.add_argument("--teacher-style", type=int, default=0, help="the teacher's style index")
    parser.add_argument("--targets", default="", help="unpaired styles: images of the target style")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--run-dir", type=Path, required=True, help="checkpoint and loss log")
    parser.add_argument("--threads", type=int, default=1)


def _examples(args, version_dir: Path, manifest, folder: str, teacher) -> Examples:
    photos = _load_photos(folder, manifest.tiling.size_multiple)
    fakes = [served_output(version_dir, manifest, p) for p in photos]
    if teacher is not None:
        return Examples(photos, fakes, [teacher(p) for p in photos], True, args.crop)
    targets = [np.asarray(fit_to_grid(load_image(p), 448, args.crop, p)) for p in list_images(args.targets)]
    return Examples(photos, fakes, targets, False, args.crop)


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if bool(args.teacher_onnx) == bool(args.targets):
        print("fit-critic: give exactly one of --teacher-onnx (distilled) or --targets (unpaired)", file=sys.stderr)
        return 2
    try:
        return _fit_and_publish(args)
    except (registry.RegistryError, DataError, TeacherError, OSError, ValueError) as exc:
        print(f"fit-critic: {one_line(exc)}", file=sys.stderr)
        return 2


def _judged_version(registry_root: Path, style: str, wanted: int) -> Path:
    """The version folder fit-critic judges: ``wanted``, or the style's newest when 0."""
    style_dir = Path(registry_root) / style
    versions = registry.version_dirs(style_dir) if style_dir.is_dir() else {}
    if not versions:
        raise registry.RegistryError(f"{registry_root} holds no version of style {style}")
    if wanted and wanted not in versions:
        raise registry.RegistryError(f"style {style} has no version {wanted}; its versions are "
                                     f"{', '.join(map(str, sorted(versions)))}")
    return versions[wanted or max(versions)]


def _fit_and_publish(args: argparse.Namespace) -> int:
    check_destination(args.registry, args.style)
    version_dir = _judged_version(args.registry, args.style, args.version)
    version, style_dir = int(version_dir.name), version_dir.parent
    manifest = registry.read_manifest(version_dir)
    for folder in (args.photos, args.targets, args.holdout):
        if folder:
            list_images(folder)  # a missing or empty folder is refused before any work
    teacher = None
    if args.teacher_onnx:
        from trainer.teacher import OnnxTeacher

        teacher = OnnxTeacher(args.teacher_onnx, args.teacher_style, "unit", threads=args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    train = _examples(args, version_dir, manifest, args.photos, teacher)
    d = fit(train, args.run_dir, args.steps)
    figures = holdout_scores(d, _examples(args, version_dir, manifest, args.holdout, teacher)) if args.holdout else {}
    what = ("the teacher's output on the same photo" if teacher is not None else f"images of {args.targets}")
    section = critic_section(d, teacher is not None, "vanilla", origin="post-hoc", steps=args.steps,
                             description=f"PatchGAN fitted after training to tell {what} (real) from version "
                                         f"{version}'s output (fake), generator frozen")
    number = publish_with_critic(args.registry, args.style, version_dir, d, teacher is not None, section, figures)
    print(f"wrote {style_dir / str(number)} ({figures})")
    shutil.copy(args.run_dir / "critic_fit.jsonl", args.run_dir / f"critic_fit_v{number}.jsonl")
    return 0
