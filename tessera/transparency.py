"""Every way a file can store transparency, as one alpha plane, and flattening onto white paper as a
browser shows the image on a white page.

Ways covered: an alpha channel (RGBA, LA, 16-bit RGBA/LA, WebP alpha), a palette's tRNS alphas
(1/2/4/8-bit palettes), and a tRNS colour key in greyscale (1, 2, 4, 8 and 16 bits) and RGB (8 and
16 bits). Pillow applies none of the colour keys correctly in all depths: it keeps a 2- or 4-bit key
unscaled, and compares a 16-bit RGB key with pixels it has already cut to 8 bits; the key is
therefore read from the file's own tRNS chunk and compared in the depth it was written in.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, PngImagePlugin

from tessera import png_chunks

_GREY, _RGB = 0, 2


def alpha_plane(image: Image.Image, data: bytes) -> np.ndarray | None:
    """H×W uint8 alpha (0 transparent .. 255 opaque) of a loaded image, or None when it is opaque.

    `data` is the file the image was opened from (needed for PNG colour keys).
    """
    if "A" in image.getbands():
        return np.asarray(image.getchannel("A"), dtype=np.uint8)
    if image.mode == "P" and "transparency" in image.info:
        return np.asarray(image.convert("RGBA").getchannel("A"), dtype=np.uint8)
    if image.format == "PNG":
        return _colour_key_alpha(image, data)
    return None


def flatten_on_white(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """H×W×3 uint8 composited over opaque white: out = rgb·a + 255·(1 − a), rounded to nearest."""
    if alpha is None:
        return rgb
    a = alpha.astype(np.uint32)[:, :, None]
    return ((rgb.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _colour_key_alpha(image: Image.Image, data: bytes) -> np.ndarray | None:
    head = png_chunks.header(data)
    key = png_chunks.first_chunk(data, b"tRNS")
    if head is None or key is None:
        return None
    if head.color_type == _GREY and len(key) >= 2:
        return _opaque_unless(_grey_samples(image, head.bit_depth) == struct.unpack(">H", key[:2])[0])
    if head.color_type == _RGB and len(key) >= 6:
        samples = _rgb_samples(image, data, head.bit_depth)
        return _opaque_unless(np.all(samples == np.array(struct.unpack(">HHH", key[:6])), axis=2))
    return None


def _opaque_unless(transparent: np.ndarray) -> np.ndarray | None:
    if not transparent.any():
        return None
    return np.where(transparent, 0, 255).astype(np.uint8)


def _grey_samples(image: Image.Image, bit_depth: int) -> np.ndarray:
    """Grey samples as stored in the file (0 .. 2^depth − 1)."""
    if bit_depth == 16:
        return np.asarray(image, dtype=np.uint32)
    levels = np.asarray(image.convert("L"), dtype=np.uint32)  # Pillow scales 1/2/4-bit greys to 0..255
    return levels // (255 // ((1 << bit_depth) - 1))


def _rgb_samples(image: Image.Image, data: bytes, bit_depth: int) -> np.ndarray:
    """RGB samples as stored in the file; for 16 bits the low bytes come from a second decode."""
    high = np.asarray(image.convert("RGB"), dtype=np.uint32)
    if bit_depth != 16:
        return high
    return (high << 8) | _low_bytes(data)


def _low_bytes(data: bytes) -> np.ndarray:
    """The low byte of each 16-bit big-endian RGB sample: Pillow keeps only the high byte, but its
    little-endian unpacker, applied to big-endian data, picks the other byte of each pair."""
    with PngImagePlugin.PngImageFile(io.BytesIO(data)) as again:
        again.tile = [tile._replace(args="RGB;16L") for tile in again.tile]
        again.load()
        return np.asarray(again, dtype=np.uint32)
