"""How close the any-painting student paints to its teacher, on hold-out photos in hold-out looks.

Both sides run as served (trainer.painters: thumbnail statistics and code, window plus halo, core
kept): the student's registry version (``--student``) and the teacher's (``--teacher``, default
model_registry/any-painting/1), each with the code the teacher's encoder gives for a *held-out*
style image (trainer/style_images.py: never in a teacher-pairs cache). On the hold-out photos
(data/photos/holdout) the figures are:

- ``fid_effnetlite0_to_teacher`` and ``fid_effnetlite0_input_to_teacher``: Fréchet distances of
  EfficientNet-Lite0 features of the same random 224 px crops of whole results (longer side 512 px)
  of every photo in every look, student -> teacher and untouched photo -> teacher; their ratio is the
  issue's target (<= 0.4);
- per look, ``vgg16_feature_distance_{S}`` (and the photo's, ``..._input_{S}``) and ``hf_energy_ratio_{S}``
  of trainer.likeness_figures at S = 1024 and 4096 px, then their mean over the looks.

``--grid FILE`` also writes photo | style image | teacher | student rows (256 px windows at 100 % of
the photo resized to 768 px) for the committable photos and looks only, as a small JPEG.

    python -m scripts.anystyle_figures --student runs/anystyle/registry/any-painting/2 --out runs/anystyle/eval
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from tessera.tiling import Rect
from trainer import metrics
from trainer.cin_models import CinRunner
from trainer.conditioned_pairs import TEACHER
from trainer.data import list_images, load_image
from trainer.effnet_lite0 import load_effnet_lite0_features, pooled_features
from trainer.likeness_figures import SIZES, TeacherCache, likeness_figures, resized
from trainer.painters import onnx_painter
from trainer.style_images import HOLDOUT, style_images

FID_SIDE = 512
FID_CROPS = 256
CROP, FEATURE = 224, 224
GRID_CELL, GRID_SIDE = 256, 768
COMMITTABLE_PHOTOS = ("scikit-image--",)


def _chw(rgb8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb8.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0)


def _features(feats, crops: torch.Tensor) -> torch.Tensor:
    return pooled_features(torch.nn.functional.interpolate(crops, size=(FEATURE, FEATURE), mode="bilinear",
                                                           align_corners=False, antialias=True), feats)


def figures(student: Path, teacher: Path, photos, looks, cache: Path, sizes, crops: int, log=print) -> dict:
    """The figures above; ``looks`` are (id, code) pairs, ``photos`` (name, uint8 HxWx3) pairs."""
    inputs, outs_s, outs_t, per_look = [], [], [], {}
    for look_id, code in looks:
        t_painter = TeacherCache(onnx_painter(teacher, code=code), f"{teacher}:{look_id}", cache)
        s_painter = onnx_painter(student, code=code)
        for name, photo in photos:
            small = resized(photo, FID_SIDE)
            whole = Rect(0, 0, small.shape[1], small.shape[0])
            inputs.append(_chw(small))
            outs_t.append(_chw(t_painter.paint(f"{name}@fid", small, [whole])[0]))
            outs_s.append(_chw(s_painter.paint(small, [whole])[0]))
        values, _ = likeness_figures(s_painter, t_painter, photos, sizes, crops)
        per_look[look_id] = {k: round(v, 4) for k, v in values.items()}
        log(json.dumps({look_id: per_look[look_id]}), flush=True)
    crop_in, crop_s, crop_t = metrics.aligned_crops([inputs, outs_s, outs_t], FID_CROPS, CROP, seed=0)
    feats = load_effnet_lite0_features()
    f_t = _features(feats, crop_t)
    fid_s = metrics.fid_effnetlite0(_features(feats, crop_s), f_t)
    fid_in = metrics.fid_effnetlite0(_features(feats, crop_in), f_t)
    means = {k: round(float(np.mean([v[k] for v in per_look.values()])), 4) for k in next(iter(per_look.values()))}
    return {"fid_effnetlite0_to_teacher": round(fid_s, 3), "fid_effnetlite0_input_to_teacher": round(fid_in, 3),
            "fid_ratio": round(fid_s / fid_in, 4), "mean_over_looks": means, "per_look": per_look,
            "photos": [n for n, _ in photos], "looks": [i for i, _ in looks], "fid_side": FID_SIDE,
            "fid_crops": FID_CROPS}


def grid(student: Path, teacher: Path, photos, looks, images: dict, path: Path) -> None:
    """photo | style image | teacher | student rows, one per look (photos taken in turn), as a JPEG."""
    rows = []
    for i, (look_id, code) in enumerate(looks):
        name, photo = photos[i % len(photos)]
        big = resized(photo, GRID_SIDE)
        rect = Rect((big.shape[1] - GRID_CELL) // 8 * 4, (big.shape[0] - GRID_CELL) // 8 * 4, GRID_CELL, GRID_CELL)
        window = big[rect.y:rect.y1, rect.x:rect.x1]
        style = np.asarray(ImageOps.fit(Image.fromarray(images[look_id]), (GRID_CELL, GRID_CELL), Image.LANCZOS))
        painted = [onnx_painter(v, code=code).paint(big, [rect])[0] for v in (teacher, student)]
        rows.append(np.concatenate([window, style, *painted], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, quality=82)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", type=Path, required=True, help="the student's registry version folder")
    parser.add_argument("--teacher", type=Path, default=TEACHER)
    parser.add_argument("--photos", type=Path, default=Path("data/photos/holdout"))
    parser.add_argument("--out", type=Path, default=Path("runs/anystyle/eval"))
    parser.add_argument("--look", action="append", help="held-out look id (repeatable; default all held out)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--crops", type=int, default=4, help="windows per photo, size and look")
    parser.add_argument("--grid", type=Path, help="also write the committable grid to this JPEG")
    parser.add_argument("--grid-only", action="store_true")
    parser.add_argument("--metrics-into", type=Path, help="also write the figures as RUN/metrics.json, so that "
                                                          "export-conditioned copies them into the manifest")
    args = parser.parse_args(argv)

    held_out = [s for s in style_images(split=HOLDOUT) if not args.look or s.id in args.look]
    images = {s.id: s.make() for s in held_out}
    runner = CinRunner(args.teacher, threads=1)
    looks = [(s.id, runner.encode(images[s.id])) for s in held_out]
    photos = [(p.stem, np.asarray(load_image(p))) for p in list_images(args.photos)]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.grid:
        free = [p for p in photos if p[0].startswith(COMMITTABLE_PHOTOS)]
        shown = [look for look, s in zip(looks, held_out, strict=True) if s.committable]
        grid(args.student, args.teacher, free, shown, images, args.grid)
        print(f"wrote {args.grid}")
    if args.grid_only:
        return 0
    result = figures(args.student, args.teacher, photos, looks, args.out / "teacher-cache", tuple(args.sizes),
                     args.crops, log=print)
    result["student"] = str(args.student)
    (args.out / "figures.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.metrics_into:
        flat = {k: result[k] for k in ("fid_effnetlite0_to_teacher", "fid_effnetlite0_input_to_teacher", "fid_ratio")}
        flat |= result["mean_over_looks"]
        summary = {"photos": result["photos"], "held_out_looks": result["looks"], "measured_on": str(args.student),
                   "command": "python -m scripts.anystyle_figures"}
        (args.metrics_into / "metrics.json").write_text(json.dumps({"kind": "conditioned", "evaluated_on": summary,
                                                                     "metrics": flat}, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_look"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
