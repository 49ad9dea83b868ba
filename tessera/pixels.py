"""Conversions between RGB8 pixels and the generator's float32 NCHW [-1, 1] convention, shared by the
server, the trainer's export checks and the tests, so all of them pad and quantize alike."""

from __future__ import annotations

import numpy as np


def rgb8_to_chw(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1]."""
    return (pixels.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


MIN_EDGE = 16


def pad_to_multiple(chw: np.ndarray, multiple: int, min_edge: int = MIN_EDGE) -> np.ndarray:
    """Pad height and width up to `multiple` (and at least `min_edge`) by mirroring the bottom
    and right edges.

    Whole images and edge tiles are padded the same way, so tiled output matches whole-image
    output. The minimum keeps tiny images valid for generators whose inner layers reflect-pad.
    'symmetric' works on 1-pixel-wide inputs too, where 'reflect' cannot mirror anything.
    """
    _, height, width = chw.shape
    floor = -(-min_edge // multiple) * multiple
    pad_h, pad_w = max(-height % multiple, floor - height), max(-width % multiple, floor - width)
    if pad_h == 0 and pad_w == 0:
        return chw
    return np.pad(chw, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")


def blend_to_rgb8(styled_chw: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
    """Mix styled output (3xHxW in [-1, 1]) with the original HxWx3 uint8 pixels by `strength`
    (1 = fully styled) and quantize to HxWx3 uint8."""
    styled = (styled_chw.transpose(1, 2, 0) + 1.0) * 127.5
    if strength < 1.0:
        styled = strength * styled + (1.0 - strength) * original.astype(np.float32)
    return np.clip(np.rint(styled), 0, 255).astype(np.uint8)
