"""Reads a JPEG's marker segments from its bytes, up to the first scan: the Exif block a browser
uses for orientation, and whether the file holds enough image data for the size it declares."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator

SOS = 0xDA
# Frame headers of Huffman-coded JPEGs (baseline, extended, progressive). Arithmetic-coded and
# lossless frames are left alone: their data can be smaller than one bit per block.
_HUFFMAN_FRAMES = (0xC0, 0xC1, 0xC2)


def segments(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(marker, payload, offset just past the segment) of each segment after SOI, the start of scan
    (SOS) last; stops early at the end of the image or at damage."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        yield marker, data[pos + 4:end], end
        if marker == SOS:
            return
        pos = end


def exif_block(data: bytes) -> bytes | None:
    """The TIFF structure of the first APP1 segment before the scan whose payload starts "Exif\\0"
    (Chromium does not look at the sixth byte), or None."""
    for marker, payload, _ in segments(data):
        if marker == 0xE1 and payload[:5] == b"Exif\x00":
            return payload[6:]
    return None


def scan_data_missing(data: bytes) -> bool:
    """Whether the file holds less entropy-coded data than its declared size needs.

    Every 8×8 block of every component costs at least one bit (its DC code) in a Huffman-coded
    JPEG, so a 190 MP header followed by a few bytes is a damaged file, not a picture; libjpeg
    would quietly fill the missing blocks with grey and Pillow would report success.
    """
    blocks, scan_start = 0, None
    for marker, payload, end in segments(data):
        if marker in _HUFFMAN_FRAMES and len(payload) >= 6:
            blocks = _blocks(payload)
        elif marker == SOS:
            scan_start = end
    if scan_start is None or blocks == 0:
        return False  # no Huffman frame header or no scan: Pillow reports those itself
    return (len(data) - scan_start) * 8 < blocks


def _blocks(frame: bytes) -> int:
    """8×8 blocks over all components of a frame header (SOFn payload)."""
    height, width, count = struct.unpack_from(">HHB", frame, 1)
    sampling = [(frame[7 + 3 * i] >> 4, frame[7 + 3 * i] & 15) for i in range(count) if 8 + 3 * i < len(frame)]
    if not sampling:
        return 0
    h_max = max(h for h, _ in sampling) or 1
    v_max = max(v for _, v in sampling) or 1
    return sum(math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
               for h, v in sampling)
