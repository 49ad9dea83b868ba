"""Style codes of style-conditioned models: encoder input, mixing and strength; one definition of each.

A style code is a float32 vector of D numbers (D = 100 for the arbitrary-style transform, 26 style
weights for the multi-style network). Codes are mixed, never pixels: a mix of styles is the
weighted sum of their codes with the weights normalised to sum to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tessera.pixels import rgb8_to_nchw


class StyleCodeError(ValueError):
    """Weights or codes that cannot be mixed; the message says why."""


def encoder_input(rgb8: np.ndarray, size: int) -> np.ndarray:
    """A style image as the encoder sees it: the largest centred square, resized to ``size`` with
    Lanczos, float32 [1, 3, size, size] in [-1, 1].

    ``rgb8`` is HxWx3 uint8 of any size (at least 1x1).
    """
    height, width = rgb8.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.ascontiguousarray(rgb8[top:top + side, left:left + side]))
    if side != size:
        square = square.resize((size, size), Image.LANCZOS)
    return rgb8_to_nchw(np.asarray(square))


def mix_codes(codes: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The weighted mean of ``codes`` (each [D]); weights are >= 0, not all 0, and are normalised.

    Raises StyleCodeError for mismatched lengths, negative or non-finite weights, or all-zero weights.
    """
    if len(codes) != len(weights) or not codes:
        raise StyleCodeError(f"{len(codes)} style codes need as many weights, got {len(weights)}")
    w = np.asarray(weights, np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise StyleCodeError(f"mix weights must be finite and >= 0, got {list(weights)}")
    if w.sum() <= 0:
        raise StyleCodeError("mix weights must not all be 0")
    stacked = np.stack([np.asarray(c, np.float32).reshape(-1) for c in codes])
    if len({c.size for c in stacked}) != 1:
        raise StyleCodeError("style codes of different lengths cannot be mixed")
    return (w / w.sum()) @ stacked.astype(np.float64)


def with_strength(style_code: np.ndarray, photo_code: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` * style + (1 - strength) * photo: 1 is the full style, 0 the photo's own style.

    This is how arbitrary-style transfer weakens a style (Ghiasi et al. 2017): the photo keeps its
    structure at every strength, unlike a pixel blend with the original.
    """
    s = float(strength)
    return (s * np.asarray(style_code, np.float64) + (1.0 - s) * np.asarray(photo_code, np.float64)
            ).astype(np.float32)
