"""Run exported ONNX files tile by tile, the way the server does, to check that tiles leave no seams.

Export uses this as a last guard: a model declared ``crop`` must give the same pixels tiled as whole,
or the measured halo is wrong and nothing is written. A model with an image border (manifest
``tiling.border``) gets it as the server gives it: around the whole image, and on a tile's sides on
the image's edge only (tessera.tiling.image_border).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tessera.pixels import pad_to_multiple
from tessera.tiling import NO_BORDER, Border, crop_core, extend, image_border, padded_rect, plan_tiles, remove_border

# [1, 3, H, W] float32 -> [1, 3, H, W]; a generator with its context already bound.
Runner = Callable[[np.ndarray], np.ndarray]


def run_region(run: Runner, chw: np.ndarray, multiple: int, border: Border = NO_BORDER) -> np.ndarray:
    """The generator on a 3xHxW region extended by ``border`` and padded to the multiple; the
    region's 3xHxW output."""
    _, height, width = chw.shape
    return remove_border(run(pad_to_multiple(extend(chw, border, channels_first=True), multiple)[None])[0],
                         border, height, width)


def run_whole(run: Runner, chw: np.ndarray, multiple: int, border: int = 0) -> np.ndarray:
    """The generator on the whole 3xHxW image with an image border of ``border`` px on every side."""
    return run_region(run, chw, multiple, Border(border, border, border, border))


def run_tiled(run: Runner, chw: np.ndarray, tile: int, halo: int, multiple: int, border: int = 0) -> np.ndarray:
    """The generator on ``tile``-sized cores with ``halo`` around them, each core cropped into place."""
    _, height, width = chw.shape
    out = np.empty_like(chw)
    for core in plan_tiles(width, height, tile):
        padded = padded_rect(core, halo, width, height)
        region = chw[:, padded.y : padded.y1, padded.x : padded.x1]
        result = run_region(run, region, multiple, image_border(padded, width, height, border))
        core_hwc = crop_core(result.transpose(1, 2, 0), core, padded)
        out[:, core.y : core.y1, core.x : core.x1] = core_hwc.transpose(2, 0, 1)
    return out
