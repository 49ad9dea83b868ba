"""Reads a PNG's chunk headers from its bytes, as far as the image data: the few facts that Pillow
does not keep (bit depth, the raw tRNS key, where an eXIf chunk sits) and that a browser relies on."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class PngHeader:
    """IHDR's bit depth (1..16) and colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA)."""

    bit_depth: int
    color_type: int


def chunks_before_data(data: bytes) -> Iterator[tuple[bytes, bytes, bool]]:
    """(type, body, CRC intact) of every whole chunk before the first IDAT; stops at damage."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT" or pos + 12 + length > len(data):
            return
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        yield kind, body, crc == zlib.crc32(kind + body)
        pos += 12 + length


def header(data: bytes) -> PngHeader | None:
    """The IHDR facts, or None if the first chunk is not a readable IHDR."""
    for kind, body, _ in chunks_before_data(data):
        if kind != b"IHDR" or len(body) < 10:
            return None
        return PngHeader(bit_depth=body[8], color_type=body[9])
    return None


def first_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The body of the first chunk of this type before the image data, if its CRC is intact
    (libpng drops an ancillary chunk whose CRC fails), else None."""
    for found, body, intact in chunks_before_data(data):
        if found == kind:
            return body if intact else None
    return None
