"""Images too small for the networks to paint as pictures: painted enlarged, then brought back.

The networks' layers reflect-pad and halve the picture twice, so they need about MIN_EDGE px on each
side. Below that, the image-wide statistics of a style that has them come from a thumbnail whose
pixels are repeated to MIN_EDGE (tessera.pixels.repeat_to_min_edge): that keeps the picture's own
statistics, but not those of the layers after its first convolution, which the tiles then meet with
other values. A 10x10 photo came back black in umber-oil, blue-ink and teacher-26, and 12-14 px ones
far darker or lighter than the same photo at 16 px. So an image whose short side is under MIN_EDGE is
enlarged by the smallest whole factor that brings it there, each pixel repeated (nearest neighbour:
the painting sees the very photo, in blocks), painted at that size, and brought back by the exact
mean of each factor x factor block. The client does this before it streams (tessera.client), and
the server for unary Stylize (inference_server/unary.py); a stream that sends such an image to a
style with statistics is refused (inference_server/engine.py, ImageJob).
"""

from __future__ import annotations

import numpy as np

from tessera.brush_scale import area_shrink
from tessera.pixels import MIN_EDGE


def enlargement(width: int, height: int) -> int:
    """The whole factor a width x height image is painted at: 1 when its short side is MIN_EDGE px or
    more, else the smallest that brings it there (a 10x10 image: 2; 1x1: 16)."""
    short = max(1, min(width, height))
    return 1 if short >= MIN_EDGE else -(-MIN_EDGE // short)


def enlarge(pixels: np.ndarray, factor: int) -> np.ndarray:
    """HxWx3 uint8 with every pixel repeated `factor` times down and across: (H*factor)x(W*factor)x3."""
    if factor == 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def shrink_back(pixels: np.ndarray, factor: int) -> np.ndarray:
    """(H*factor)x(W*factor)x3 uint8 brought back to HxWx3 uint8: each factor x factor block's mean,
    rounded half up (brush_scale.area_shrink, whose spans are then whole blocks). ValueError when a side
    is not a multiple of `factor`."""
    if factor == 1:
        return pixels
    big_h, big_w = pixels.shape[:2]
    if big_h % factor or big_w % factor:
        raise ValueError(f"a {big_w}x{big_h} image is not {factor} times another")
    return area_shrink(pixels, (big_w // factor, big_h // factor))

