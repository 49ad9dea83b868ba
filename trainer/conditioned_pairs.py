"""``teacher-pairs --out DIR``: the teacher's served windows of training photos in many looks, cached once.

The any-painting student learns from the arbitrary-style teacher (a style-conditioned registry
version, model_registry/any-painting/1) as the server paints: for each *group* a training photo is
resized to one of ``sizes`` (longer side), a look is drawn (a training style image's code; a mix of
two; or one moved toward the photo's own code, which is what ``strength`` does), the teacher's
statistics come from the photo's 512 px thumbnail, and ``windows`` windows of ``core`` px are painted
with the teacher's halo, keeping the core: the pixels the served teacher gives there.

Each group becomes ``group-NNNNN.npz`` with
- ``photo`` uint8 [windows, core + 2 halo, core + 2 halo, 3]: the window with the student's halo,
  extended by edge replication where it crosses the image edge (as the student's image border does);
- ``teacher`` uint8 [windows, core, core, 3]: the teacher's served pixels of the core;
- ``context`` float32 [6 + D]: the student's context row (its 256 px thumbnail's per-channel mean and
  std, then the code), what the student's context.onnx gives for that photo and look;
- ``meta``: JSON (photo, size, style ids and weights, strength).

``pairs.json`` records the settings and the style ids the groups may use (all from the training
split of trainer/style_images.py), so evaluation can check that no held-out look was seen.
Existing group files are kept: an interrupted run continues where it stopped. Costly: the teacher
runs on 0.2-0.5 MP per group; run it once, in the background.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw
from tessera.style_codes import mix_codes, with_strength
from tessera.tiling import Rect, crop_core, padded_rect
from trainer import cin_models
from trainer.data import DataError, fit_to_grid, list_images, load_image
from trainer.messages import one_line
from trainer.style_images import TRAIN, style_images
from trainer.tiled_check import run_whole

TEACHER = Path("model_registry/any-painting/1")
TEACHER_THUMBNAIL = 512  # the teacher's manifest thumbnail_size: statistics as served
STUDENT_THUMBNAIL = 256  # the student's (its 6 statistics barely depend on it)
STUDENT_HALO = 40  # the compact generator's receptive radius (measured halo 36-40 px)
PAIRS_FILE = "pairs.json"
MIX_PROBABILITY = 0.25
STRENGTH_PROBABILITY = 0.15


def encode_styles(runner: cin_models.CinRunner, styles, log=print) -> dict[str, np.ndarray]:
    """Each style image's code [D], by id."""
    codes = {}
    for style in styles:
        codes[style.id] = runner.encode(style.make()).astype(np.float32)
    log(f"encoded {len(codes)} style images")
    return codes


def student_stats(photo: np.ndarray) -> np.ndarray:
    """The 6 thumbnail statistics of the student's context row (trainer.compact.image_context)."""
    x = rgb8_to_chw(make_thumbnail(photo, STUDENT_THUMBNAIL)).reshape(3, -1)
    return np.concatenate([x.mean(1), x.std(1)]).astype(np.float32)


def draw_look(rng: np.random.Generator, codes: dict[str, np.ndarray], photo_code) -> tuple[np.ndarray, dict]:
    """A code for one group: one style, a mix of two, or one moved toward the photo's own code."""
    ids = sorted(codes)
    first = ids[int(rng.integers(len(ids)))]
    u = rng.random()
    if u < MIX_PROBABILITY:
        second = ids[int(rng.integers(len(ids)))]
        t = float(rng.uniform(0.2, 0.8))
        return mix_codes([codes[first], codes[second]], [t, 1 - t]).astype(np.float32), \
            {"styles": [first, second], "weights": [t, 1 - t], "strength": 1.0}
    if u < MIX_PROBABILITY + STRENGTH_PROBABILITY:
        s = float(rng.uniform(0.3, 0.9))
        return with_strength(codes[first], photo_code(), s), {"styles": [first], "weights": [1.0], "strength": s}
    return codes[first], {"styles": [first], "weights": [1.0], "strength": 1.0}


def window_rects(rng: np.random.Generator, width: int, height: int, count: int, core: int) -> list[Rect]:
    return [Rect(int(rng.integers(0, (width - core) // 4 + 1)) * 4, int(rng.integers(0, (height - core) // 4 + 1)) * 4,
                 core, core) for _ in range(count)]


def student_window(photo: np.ndarray, rect: Rect, halo: int) -> np.ndarray:
    """The rectangle grown by ``halo``, edge-replicated beyond the image (what the student's border sees)."""
    height, width = photo.shape[:2]
    padded = padded_rect(rect, halo, width, height)
    region = photo[padded.y:padded.y1, padded.x:padded.x1]
    pads = ((padded.y - (rect.y - halo), (rect.y1 + halo) - padded.y1),
            (padded.x - (rect.x - halo), (rect.x1 + halo) - padded.x1), (0, 0))
    return np.pad(region, pads, mode="edge")


def teacher_windows(runner: cin_models.CinRunner, photo: np.ndarray, code: np.ndarray,
                    rects: list[Rect]) -> list[np.ndarray]:
    """The served teacher's pixels of each rectangle (thumbnail statistics, window plus halo, core kept)."""
    height, width = photo.shape[:2]
    run = runner.runner(runner.context(make_thumbnail(photo, TEACHER_THUMBNAIL), code))
    out = []
    for rect in rects:
        padded = padded_rect(rect, cin_models.HALO, width, height)
        region = rgb8_to_chw(photo[padded.y:padded.y1, padded.x:padded.x1])
        painted = chw_to_rgb8(run_whole(run, region, cin_models.SIZE_MULTIPLE))
        out.append(crop_core(painted, rect, padded))
    return out


def make_pairs(out: Path, photos_dir: Path, groups: int, windows: int = 3, core: int = 256,
               sizes: tuple[int, ...] = (512, 768, 1024), seed: int = 0, teacher: Path = TEACHER,
               data: Path = Path("data"), style_ids: tuple[str, ...] = (), threads: int = 1, log=print) -> int:
    """Write the missing group files under ``out``; return how many were written. ``style_ids`` narrows
    the training style images to those (all of them when empty)."""
    out.mkdir(parents=True, exist_ok=True)
    photos = list_images(photos_dir)
    styles = [s for s in style_images(data, TRAIN) if not style_ids or s.id in style_ids]
    if not styles:
        raise DataError(f"no training style image has one of the ids {', '.join(style_ids)}")
    runner = cin_models.CinRunner(Path(teacher), threads)
    codes = encode_styles(runner, styles, log)
    settings = {"photos": str(photos_dir), "groups": groups, "windows": windows, "core": core, "halo": STUDENT_HALO,
                "sizes": list(sizes), "seed": seed, "teacher": str(teacher), "styles": sorted(codes),
                "teacher_thumbnail": TEACHER_THUMBNAIL, "student_thumbnail": STUDENT_THUMBNAIL}
    (out / PAIRS_FILE).write_text(json.dumps(settings, indent=1) + "\n")
    written, started = 0, time.monotonic()
    for g in range(groups):
        path = out / f"group-{g:05d}.npz"
        if path.exists():
            continue
        rng = np.random.default_rng([seed, g])
        source = photos[int(rng.integers(len(photos)))]
        size = sizes[int(rng.integers(len(sizes)))]
        photo = np.asarray(fit_to_grid(load_image(source), size, core, source))
        code, look = draw_look(rng, codes, lambda p=photo: runner.encode(make_thumbnail(p, STUDENT_THUMBNAIL)))
        rects = window_rects(rng, photo.shape[1], photo.shape[0], windows, core)
        painted = teacher_windows(runner, photo, code, rects)
        meta = {"photo": source.name, "size": size, "shape": list(photo.shape[:2]), **look}
        np.savez(path.with_suffix(".tmp.npz"), photo=np.stack([student_window(photo, r, STUDENT_HALO) for r in rects]),
                 teacher=np.stack(painted), context=np.concatenate([student_stats(photo), code]).astype(np.float32),
                 meta=np.array(json.dumps(meta)))
        path.with_suffix(".tmp.npz").rename(path)
        written += 1
        if written % 20 == 0:
            log(f"{g + 1}/{groups} groups, {(time.monotonic() - started) / written:.2f} s per group", flush=True)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="cache folder (under runs/ or data/: gitignored)")
    parser.add_argument("--photos", type=Path, default=Path("data/photos/train"), help="training photo folder")
    parser.add_argument("--groups", type=int, default=400, help="photo-and-look groups to paint")
    parser.add_argument("--windows", type=int, default=3, help="windows per group")
    parser.add_argument("--core", type=int, default=256, help="window side in px (a multiple of 4)")
    parser.add_argument("--sizes", default="512,768,1024", help="longer sides the photos are resized to")
    parser.add_argument("--teacher", type=Path, default=TEACHER, help="the teacher's registry version folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the teacher (the "
                                                               "machine is shared)")
    parser.add_argument("--style", action="append", default=[], help="use only this training style image id "
                                                                      "(repeatable; default all)")


def main(args: argparse.Namespace) -> int:
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        if args.core % 4 or args.core < 16 or args.groups < 1 or args.windows < 1:
            raise ValueError("--core must be a multiple of 4 and >= 16; --groups and --windows >= 1")
        n = make_pairs(args.out, args.photos, args.groups, args.windows, args.core, sizes, args.seed, args.teacher,
                       style_ids=tuple(args.style), threads=args.threads, log=lambda *a, **k: print(*a, flush=True))
    except (DataError, ValueError, OSError, cin_models.ImportError_) as exc:
        print(f"teacher-pairs: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {n} groups into {args.out}")
    return 0
