"""A tiny PNG writer for tests: every colour type and bit depth, with tRNS, PLTE and extra chunks,
which Pillow's encoder cannot all produce (16-bit RGB, 2-bit greyscale, a colour key in 16 bits...)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(samples: np.ndarray, color_type: int, bit_depth: int, *, trns: bytes | None = None,
              palette: np.ndarray | None = None, before_idat: list[bytes] = (), after_idat: list[bytes] = ()) -> bytes:
    """A PNG of `samples` (H×W×channels integers, already in the bit depth's range).

    `trns` is the tRNS chunk's body as stored (2 bytes per grey key, 6 per RGB key, 1 per palette entry);
    `palette` is N×3 uint8; `before_idat` and `after_idat` are whole extra chunks (see `chunk`).
    """
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    assert channels == CHANNELS[color_type]
    rows = [b"\x00" + _pack_row(samples[y], bit_depth) for y in range(height)]  # filter type 0 on every row
    parts = [b"\x89PNG\r\n\x1a\n",
             chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))]
    if palette is not None:
        parts.append(chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes()))
    if trns is not None:
        parts.append(chunk(b"tRNS", trns))
    parts += list(before_idat)
    parts.append(chunk(b"IDAT", zlib.compress(b"".join(rows))))
    parts += list(after_idat)
    parts.append(chunk(b"IEND", b""))
    return b"".join(parts)


def _pack_row(row: np.ndarray, bit_depth: int) -> bytes:
    flat = row.reshape(-1).astype(np.uint32)
    if bit_depth == 16:
        return flat.astype(">u2").tobytes()
    if bit_depth == 8:
        return flat.astype(np.uint8).tobytes()
    bits = np.unpackbits(flat.astype(np.uint8)[:, None], axis=1)[:, 8 - bit_depth:]
    return np.packbits(bits.reshape(-1)).tobytes()


def grey_key(value: int) -> bytes:
    """tRNS body keying out greyscale `value` (in the image's bit depth)."""
    return struct.pack(">H", value)


def rgb_key(red: int, green: int, blue: int) -> bytes:
    """tRNS body keying out the colour (in the image's bit depth)."""
    return struct.pack(">HHH", red, green, blue)
