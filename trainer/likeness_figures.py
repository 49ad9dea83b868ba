"""Student-to-teacher likeness figures at several photo sizes, on windows of hold-out photos.

For each size S (default 1024 and 4096 px) every hold-out photo is resized (bicubic) so its longer
side is S, ``crops_per_photo`` windows of ``crop`` px are drawn at seeded positions, and both the
student and the teacher paint those windows as the server would (trainer.painters: context from
the whole photo's thumbnail, window plus halo, core kept). Per size the figures are:

- ``vgg16_feature_distance_{S}``: mean over windows of trainer.likeness.vgg16_feature_distance
  student -> teacher (lower is closer; not LPIPS, see that module);
- ``vgg16_feature_distance_input_{S}``: the same for the untouched photo -> teacher (the baseline);
- ``hf_energy_ratio_{S}``: the student's high-frequency luminance energy summed over the windows,
  over the teacher's on the same windows (1 = as much fine detail as the teacher).

The hold-out photos are at most 1024 px, so at 4096 px they are upscaled 4x: the figure tells how
the painted strokes scale with the photo, not how real 16 MP detail is painted. Teacher windows are
cached under ``cache_dir`` (they cost the most and never change for a given teacher).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tessera.pixels import rgb8_to_signed
from tessera.tiling import Rect
from trainer.likeness import feature_distance, hf_energy
from trainer.painters import Painter

SIZES = (1024, 4096)
CROP = 256
CROPS_PER_PHOTO = 4


def resized(photo: np.ndarray, longest: int) -> np.ndarray:
    """uint8 HxWx3 resized (bicubic) so the longer side is ``longest``; sides rounded to multiples of 4."""
    h, w = photo.shape[:2]
    scale = longest / max(h, w)
    size = (max(4, round(w * scale / 4) * 4), max(4, round(h * scale / 4) * 4))
    return np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC))


def window_rects(width: int, height: int, count: int, crop: int, seed: int) -> list[Rect]:
    """``count`` seeded crop x crop rectangles inside the image (on a 4 px grid)."""
    rng = np.random.default_rng(seed)
    crop_w, crop_h = min(crop, width), min(crop, height)
    return [Rect(int(rng.integers(0, width - crop_w + 1)) // 4 * 4, int(rng.integers(0, height - crop_h + 1)) // 4 * 4,
                 crop_w, crop_h) for _ in range(count)]


def _signed(windows: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(rgb8_to_signed(np.stack(windows)).transpose(0, 3, 1, 2).copy())


class TeacherCache:
    """Teacher windows on disk as PNG, keyed by the teacher's id, the photo, the size and the window."""

    def __init__(self, teacher: Painter, teacher_id: str, folder: Path | None):
        self.teacher, self.teacher_id, self.folder = teacher, teacher_id, folder

    def paint(self, name: str, photo: np.ndarray, rects: list[Rect]) -> list[np.ndarray]:
        if self.folder is None:
            return self.teacher.paint(photo, rects)
        key = hashlib.sha256(repr((self.teacher_id, name, photo.shape, rects)).encode()).hexdigest()[:20]
        path = Path(self.folder) / f"{key}.png"
        if path.exists():
            strip = np.asarray(Image.open(path).convert("RGB"))
            return np.split(strip, len(rects), axis=1)
        windows = self.teacher.paint(photo, rects)
        if len({w.shape for w in windows}) == 1:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate(windows, axis=1)).save(path)
        return windows


def likeness_figures(student: Painter, teacher: TeacherCache, photos: list[tuple[str, np.ndarray]],
                     sizes: tuple[int, ...] = SIZES, crops_per_photo: int = CROPS_PER_PHOTO, crop: int = CROP,
                     seed: int = 0) -> tuple[dict[str, float], dict[int, list[np.ndarray]]]:
    """The figures above for ``photos`` (name, uint8 HxWx3); also the (photo, teacher, student) windows by size."""
    from trainer.vgg16_trunk import load_vgg16_trunk

    trunk = load_vgg16_trunk()
    values: dict[str, float] = {}
    shown: dict[int, list[np.ndarray]] = {}
    for size in sizes:
        dist, dist_in, hf_s, hf_t = [], [], [], []
        shown[size] = []
        for index, (name, original) in enumerate(photos):
            photo = resized(original, size)
            rects = window_rects(photo.shape[1], photo.shape[0], crops_per_photo, crop, seed + index)
            inputs = [photo[r.y:r.y1, r.x:r.x1] for r in rects]
            painted_t = teacher.paint(f"{name}@{size}", photo, rects)
            painted_s = student.paint(photo, rects)
            shown[size].append(np.concatenate([inputs[0], painted_t[0], painted_s[0]], axis=1))
            x, t, s = _signed(inputs), _signed(painted_t), _signed(painted_s)
            with torch.no_grad():
                feats_t = trunk(t)
                dist.append(feature_distance(trunk(s), feats_t))
                dist_in.append(feature_distance(trunk(x), feats_t))
            hf_s.append(hf_energy(s))
            hf_t.append(hf_energy(t))
        values[f"vgg16_feature_distance_{size}"] = float(torch.cat(dist).mean())
        values[f"vgg16_feature_distance_input_{size}"] = float(torch.cat(dist_in).mean())
        values[f"hf_energy_ratio_{size}"] = float(torch.cat(hf_s).sum() / torch.cat(hf_t).sum())
    return values, shown
