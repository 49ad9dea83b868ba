"""The one pixel convention: RGB8 pixels (uint8, 0..255) and the generator's float32 values in
[-1, 1], with the conversions both ways. The server, the client's tests, the trainer, its export
checks and the benchmarks all use these functions, so every path quantizes alike.

Quantizing rounds to the nearest integer (ties to even, `np.rint`) after clipping to [0, 255].
"""

from __future__ import annotations

import numpy as np


def rgb8_to_signed(pixels: np.ndarray) -> np.ndarray:
    """uint8 values 0..255 of any shape and layout -> float32 in [-1, 1], same shape."""
    return pixels.astype(np.float32) / 127.5 - 1.0


def signed_to_rgb8(values: np.ndarray) -> np.ndarray:
    """Float values in [-1, 1] (any shape and layout; outside values are clipped) -> uint8, same shape."""
    return quantize(signed_to_255(values))


def signed_to_255(values: np.ndarray) -> np.ndarray:
    """Float values in [-1, 1] -> float32 on the 0..255 scale (not yet clipped or rounded), same shape."""
    return (np.asarray(values, dtype=np.float32) + 1.0) * 127.5


def quantize(values: np.ndarray) -> np.ndarray:
    """Float values on the 0..255 scale -> uint8: clipped, rounded to nearest (ties to even)."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def rgb8_to_chw(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1], C-contiguous (as a runtime takes it).

    One allocation and the same arithmetic as `rgb8_to_signed`, in place: a tile's float copy is
    about 10 MB, and every temporary costs its copy and, whenever the heap has just handed its free
    pages back (tessera/heap.py), its page faults."""
    out = np.empty((pixels.shape[2], pixels.shape[0], pixels.shape[1]), dtype=np.float32)
    np.divide(pixels.transpose(2, 0, 1), np.float32(127.5), out=out)
    np.subtract(out, np.float32(1.0), out=out)
    return out


def rgb8_to_nchw(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 (or NxHxWx3) uint8 -> 1x3xHxW (or Nx3xHxW) float32 in [-1, 1], contiguous."""
    batch = pixels[None] if pixels.ndim == 3 else pixels
    return np.ascontiguousarray(rgb8_to_signed(batch.transpose(0, 3, 1, 2)))


def chw_to_rgb8(chw: np.ndarray) -> np.ndarray:
    """3xHxW float in [-1, 1] -> HxWx3 uint8."""
    return signed_to_rgb8(chw.transpose(1, 2, 0))


MIN_EDGE = 16


def pad_to_multiple(chw: np.ndarray, multiple: int, min_edge: int = MIN_EDGE) -> np.ndarray:
    """Pad height and width up to `multiple` (and at least `min_edge`) by mirroring the bottom
    and right edges.

    Whole images and edge tiles are padded the same way, so tiled output matches whole-image
    output. The minimum keeps tiny images valid for generators whose inner layers reflect-pad.
    'symmetric' works on 1-pixel-wide inputs too, where 'reflect' cannot mirror anything.
    """
    _, height, width = chw.shape
    pad_h, pad_w = _stride_padding(height, width, multiple, min_edge)
    if pad_h == 0 and pad_w == 0:
        return chw
    return np.pad(chw, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")


def pad_rgb8_to_multiple(pixels: np.ndarray, multiple: int, min_edge: int = MIN_EDGE) -> np.ndarray:
    """`pad_to_multiple` for HxWx3 uint8 pixels: the same mirrored rows and columns, on a quarter of
    the bytes of the float image."""
    height, width = pixels.shape[:2]
    pad_h, pad_w = _stride_padding(height, width, multiple, min_edge)
    if pad_h == 0 and pad_w == 0:
        return pixels
    return np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")


def _stride_padding(height: int, width: int, multiple: int, min_edge: int) -> tuple[int, int]:
    """Rows and columns to add below and right of an image: up to the multiple and the minimum edge."""
    floor = -(-min_edge // multiple) * multiple
    return max(-height % multiple, floor - height), max(-width % multiple, floor - width)


def repeat_to_min_edge(pixels: np.ndarray, min_edge: int = MIN_EDGE) -> np.ndarray:
    """An HxWx3 image with every pixel repeated a whole number of times along each short axis, so
    both sides are at least `min_edge`. Each pixel appears equally often, so per-channel statistics
    (mean, variance, histogram) are exactly the input's: this is how a thumbnail of a tiny image
    (down to 1x1) reaches a context model whose inner layers reflect-pad."""
    height, width = pixels.shape[:2]
    rows, columns = -(-min_edge // height), -(-min_edge // width)
    if rows == 1 and columns == 1:
        return pixels
    return np.repeat(np.repeat(pixels, rows, axis=0), columns, axis=1)


def blend_to_rgb8(styled_chw: np.ndarray, original: np.ndarray, strength: float,
                  overwrite: bool = False) -> np.ndarray:
    """Mix styled output (3xHxW float32 in [-1, 1]) with the original HxWx3 uint8 pixels by `strength`
    (1 = fully styled) and quantize to HxWx3 uint8. With `overwrite` the arithmetic runs in
    `styled_chw` itself (which the caller no longer needs), so a tile costs no float temporaries;
    the result is the same to the bit."""
    styled = styled_chw.transpose(1, 2, 0)
    if not overwrite or styled.dtype != np.float32:
        return _blend_copy(styled, original, strength)
    np.add(styled, np.float32(1.0), out=styled)
    np.multiply(styled, np.float32(127.5), out=styled)
    if strength < 1.0:
        return _blend_copy(styled, original, strength, on_255_scale=True)
    np.rint(styled, out=styled)
    np.clip(styled, 0, 255, out=styled)
    return styled.astype(np.uint8)


def _blend_copy(styled: np.ndarray, original: np.ndarray, strength: float, on_255_scale: bool = False) -> np.ndarray:
    values = styled if on_255_scale else signed_to_255(styled)
    if strength < 1.0:
        values = strength * values + (1.0 - strength) * original.astype(np.float32)
    return quantize(values)
