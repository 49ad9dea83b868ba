"""Colour conventions: BT.601 luma and chroma (full range, as JPEG uses), and keeping a photo's colours.

``LUMA`` is the one definition of the luma weights; the trainer's Kuwahara filter and tone loss use it.
"""

from __future__ import annotations

import numpy as np

LUMA = (0.299, 0.587, 0.114)
# Full-range BT.601 (JFIF) RGB -> YCbCr rows, and the inverse's coefficients.
_TO_YCBCR = np.array([LUMA, (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312)], np.float32)
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR.astype(np.float64)).astype(np.float32)


def to_ycbcr(rgb8: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxWx3 float32 (Y in 0..255, Cb and Cr centred on 0, within +-127.5)."""
    return rgb8.astype(np.float32) @ _TO_YCBCR.T


def from_ycbcr(ycbcr: np.ndarray) -> np.ndarray:
    """HxWx3 float32 YCbCr (as ``to_ycbcr`` gives) -> HxWx3 uint8 RGB, clipped and rounded to nearest."""
    return np.clip(np.rint(ycbcr @ _FROM_YCBCR.T), 0, 255).astype(np.uint8)


def keep_colors(styled: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The styled image's luminance with the photo's chroma: HxWx3 uint8 both, same shape -> HxWx3 uint8.

    A pixel-wise operation, so tiles give the same result as the whole image. Where the mix falls
    outside the RGB cube (a bright stroke over a saturated colour), the channels are clipped and the
    chroma there is as close as RGB8 allows. Raises ValueError for different shapes.
    """
    if styled.shape != photo.shape:
        raise ValueError(f"keep_colors needs equal shapes, got {styled.shape} and {photo.shape}")
    mixed = to_ycbcr(photo)
    mixed[..., 0] = to_ycbcr(styled)[..., 0]
    return from_ycbcr(mixed)
