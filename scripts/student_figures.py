"""Likeness of the shipped students to their teacher, as served (the figures of docs/styles.md).

    .venv/bin/python -m scripts.student_figures --style blue-swirls [--version 2] [--out runs/likeness]

For each distilled style (default: all four) it runs the registry version's ONNX files and the
teacher-26 version (multistyle26, the teacher the recipe names) on windows of the hold-out photos at
1024 and 4096 px (trainer.likeness_figures), prints the figures as JSON, appends them to
``OUT/figures.jsonl`` and writes ``OUT/<style>-v<N>-<size>.png`` (photo | teacher | student windows,
one row per photo). With ``--docs DIR`` it also writes ``DIR/<style>-likeness.jpg``: the first window of
each hold-out photo without copyleft terms (scikit-image's, public domain or CC0), at 100 % of the
1024 px photo (left) and of the 4096 px one (right); ``--docs-only`` makes that picture from PNGs an
earlier run wrote, without measuring again. Needs `make data`. ``trainer evaluate`` computes the
same figures for a training run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from inference_server.bf16_forms import served_form
from scripts.style_grids import grid_photos
from scripts.train_defaults import PHOTOS_HOLDOUT, RECIPES
from tessera.registry import PRECISIONS, THUMBNAIL_INPUT, newest_version_dir
from trainer.data import list_images, load_image
from trainer.likeness_figures import CROPS_PER_PHOTO, SIZES, TeacherCache, likeness_figures
from trainer.painters import TEACHER_VERSION, Painter, onnx_painter, teacher_painter


def holdout_photos(folder: Path = Path(PHOTOS_HOLDOUT)) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, np.asarray(load_image(p))) for p in list_images(folder)]


def holdout_missing() -> bool:
    """Whether the hold-out photos are missing; says so on stderr, with what installs them."""
    if Path(PHOTOS_HOLDOUT).is_dir():
        return False
    print(f"error: {PHOTOS_HOLDOUT} is missing; run `make data` first", file=sys.stderr)
    return True


def newest(style_dir: Path) -> int:
    return int(newest_version_dir(style_dir).name)


def student_painter(version_dir: Path, precision: str) -> Painter:
    """The student as served at `precision`: "fp32" (ONNX Runtime), or a bf16 form on OpenVINO with the
    context model the server would run beside it (inference_server/bf16_forms.py). Raises Bf16Refused
    when the server would not serve that form."""
    painter = onnx_painter(version_dir)
    if precision == "fp32":
        return painter
    form = served_form(version_dir, precision, threads=1)
    runtime, context_runtime = form.runtime, form.context_model

    def run(batch: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        rows = None if context is None else np.repeat(context, len(batch), axis=0).astype(np.float32)
        return runtime.execute(batch.astype(np.float32), rows)

    def context(thumbnail: np.ndarray) -> np.ndarray | None:  # a student is not style-conditioned
        return None if context_runtime is None else context_runtime.run_named({THUMBNAIL_INPUT: thumbnail})

    return replace(painter, run=run, context=context)


def measure(style: str, version: int, registry: Path, out: Path, sizes: tuple[int, ...], crops: int,
            photos: list[tuple[str, np.ndarray]], precision: str = "fp32") -> dict:
    recipe = {r.id: r for r in RECIPES}[style]
    teacher_style = recipe.config["teacher_style"]
    teacher = TeacherCache(teacher_painter(teacher_style), f"{TEACHER_VERSION}:{teacher_style}", out / "teacher-cache")
    start = time.monotonic()
    values, shown = likeness_figures(student_painter(registry / style / str(version), precision), teacher, photos,
                                     sizes, crops)
    record = {"style": style, "version": version, "precision": precision, "sizes": list(sizes),
              "crops_per_photo": crops,
              "photos": len(photos), "seconds": round(time.monotonic() - start, 1),
              "figures": {k: round(v, 4) for k, v in values.items()}}
    suffix = "" if precision == "fp32" else f"-{precision}"
    for size, rows in shown.items():
        Image.fromarray(np.concatenate(rows, axis=0)).save(out / f"{style}-v{version}-{size}{suffix}.png")
    with (out / "figures.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def docs_picture(style: str, version: int, out: Path, docs: Path, sizes: tuple[int, ...] = SIZES) -> Path:
    """The committable rows of OUT/<style>-v<N>-<size>.png side by side by size, as a small JPEG."""
    names = [p.stem for p in list_images(Path(PHOTOS_HOLDOUT))]
    keep = [names.index(p.stem) for p in grid_photos(Path("data")) if p.stem in names]
    columns = []
    for size in sizes:
        strip = np.asarray(Image.open(out / f"{style}-v{version}-{size}.png").convert("RGB"))
        rows = np.split(strip, len(names), axis=0)
        columns.append(np.concatenate([rows[i] for i in keep], axis=0))
    gap = np.full((columns[0].shape[0], 8, 3), 255, np.uint8)
    picture = np.concatenate([c if i == 0 else np.concatenate([gap, c], axis=1) for i, c in enumerate(columns)],
                             axis=1)
    docs.mkdir(parents=True, exist_ok=True)
    path = docs / f"{style}-likeness.jpg"
    Image.fromarray(picture).save(path, quality=75)  # 100 %: the hatching shows only at full size
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    distilled = [r.id for r in RECIPES if r.distilled]
    parser.add_argument("--style", action="append", choices=distilled, help="repeatable; default all four")
    parser.add_argument("--version", type=int, help="registry version (default the newest)")
    parser.add_argument("--registry", type=Path, default=Path("model_registry"))
    parser.add_argument("--out", type=Path, default=Path("runs/likeness"))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--crops", type=int, default=CROPS_PER_PHOTO, help="windows per photo and size")
    parser.add_argument("--docs", type=Path, help="also write DIR/<style>-likeness.jpg (committable photos only)")
    parser.add_argument("--docs-only", action="store_true", help="only make the --docs pictures from earlier PNGs")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="run the student on ONNX Runtime fp32, or on OpenVINO in bf16 (with its stem in "
                             "fp32: bf16-fp32-stem; docs/serving.md, Engines)")
    args = parser.parse_args(argv)
    if holdout_missing():
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    photos = holdout_photos()
    for style in args.style or distilled:
        version = args.version or newest(args.registry / style)
        if not args.docs_only:
            record = measure(style, version, args.registry, args.out, tuple(args.sizes), args.crops, photos,
                             args.precision)
            print(json.dumps(record), flush=True)
        if args.docs:
            print(f"wrote {docs_picture(style, version, args.out, args.docs, tuple(args.sizes))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
