"""Run exported ONNX files tile by tile, the way the server does, to check that tiles leave no seams.

Export uses this as a last guard: a model declared ``crop`` must give the same pixels tiled as whole,
or the measured halo is wrong and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tessera.pixels import pad_to_multiple
from tessera.tiling import crop_core, padded_rect, plan_tiles

# [1, 3, H, W] float32 -> [1, 3, H, W]; a generator with its context already bound.
Runner = Callable[[np.ndarray], np.ndarray]


def run_whole(run: Runner, chw: np.ndarray, multiple: int) -> np.ndarray:
    """The generator on the whole 3xHxW image (padded to the multiple, cropped back)."""
    _, height, width = chw.shape
    return run(pad_to_multiple(chw, multiple)[None])[0][:, :height, :width]


def run_tiled(run: Runner, chw: np.ndarray, tile: int, halo: int, multiple: int) -> np.ndarray:
    """The generator on ``tile``-sized cores with ``halo`` around them, each core cropped into place."""
    _, height, width = chw.shape
    out = np.empty_like(chw)
    for core in plan_tiles(width, height, tile):
        padded = padded_rect(core, halo, width, height)
        region = chw[:, padded.y : padded.y1, padded.x : padded.x1]
        result = run_whole(run, region, multiple)
        core_hwc = crop_core(result.transpose(1, 2, 0), core, padded)
        out[:, core.y : core.y1, core.x : core.x1] = core_hwc.transpose(2, 0, 1)
    return out

