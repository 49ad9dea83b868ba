"""Pictures of a run, drawn with Pillow: sample grids and loss curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from tessera.pixels import signed_to_rgb8

# Distinct, colour-blind-friendly line colours (Okabe-Ito).
_COLOURS = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (213, 94, 0),
            (240, 228, 66), (0, 0, 0)]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW -> uint8 NHWC."""
    return signed_to_rgb8(images.detach().float().cpu().numpy()).transpose(0, 2, 3, 1)


def grid_array(columns: list[torch.Tensor], max_rows: int = 4) -> np.ndarray:
    """One row per image of the batch, one column per tensor, as an HxWx3 uint8 array."""
    cols = [to_uint8(c[:max_rows]) for c in columns]
    rows = [np.concatenate([c[i] for c in cols], axis=1) for i in range(len(cols[0]))]
    return np.concatenate(rows, axis=0)


def save_grid(columns: list[torch.Tensor], path: Path, max_rows: int = 4) -> None:
    """One row per image of the batch, one column per tensor (input | output | target | realism map)."""
    Image.fromarray(grid_array(columns, max_rows)).save(path)


def save_loss_curves(records: list[dict], path: Path, size=(720, 400), margin=48) -> None:
    """A line per loss (y on a log10 scale when all values are positive), step on x, with a legend.

    Long runs are averaged into about one point per two pixels, which also smooths the noise.
    """
    names = sorted({k for r in records for k in r if k != "step"})
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size[0] - 2 * margin, size[1] - 2 * margin
    draw.rectangle([margin, margin, margin + w, margin + h], outline=(160, 160, 160))
    if not records or not names:
        image.save(path)
        return
    steps = [r["step"] for r in records]
    values = [v for r in records for k, v in r.items() if k != "step" and math.isfinite(v)]
    log = bool(values) and min(values) > 0
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    lo, hi = (min(map(scale, values)), max(map(scale, values))) if values else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    x0, x1 = min(steps), max(steps) if max(steps) > min(steps) else min(steps) + 1

    def point(step, v):
        return (margin + (step - x0) / (x1 - x0) * w, margin + h - (scale(v) - lo) / (hi - lo) * h)

    for i, name in enumerate(names):
        colour = _COLOURS[i % len(_COLOURS)]
        series = [(r["step"], r[name]) for r in records if name in r and math.isfinite(r[name])]
        pts = [point(s, v) for s, v in _binned(series, bins=w // 2)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        draw.text((margin + 6, margin + 4 + 12 * i), name, fill=colour)
    axis = "log10 loss" if log else "loss"
    draw.text((margin, size[1] - margin + 8), f"step {x0} .. {x1}    {axis} {lo:.3g} .. {hi:.3g}", fill="black")
    image.save(path)


def _binned(series: list[tuple[int, float]], bins: int) -> list[tuple[float, float]]:
    """At most ``bins`` points: means of consecutive runs, so long runs draw as smoothed curves."""
    size = max(1, math.ceil(len(series) / max(1, bins)))
    out = []
    for start in range(0, len(series), size):
        chunk = series[start:start + size]
        out.append((sum(s for s, _ in chunk) / len(chunk), sum(v for _, v in chunk) / len(chunk)))
    return out
