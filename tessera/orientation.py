"""Which EXIF orientation a browser applies to a file, read from the bytes as Chromium reads them.

Pillow finds orientation in more places than browsers do (XMP packets, ImageMagick text chunks,
WebP's EXIF chunk, an eXIf chunk after the image data, the last of several eXIf chunks) and forgives
malformed entries (a LONG instead of a SHORT, a count of 2). A photo must come out the way the page
shows it, so Tessera ignores all of those. What Chromium does was measured, not assumed:
tests/browser/test_decoder_matches_chromium.py decodes a generated set of files in both and compares.

- JPEG: the first APP1 segment before the scan whose payload starts with "Exif\\0" (the sixth byte is
  not checked); the orientation entry of IFD0, used only if its type is SHORT, its count is 1 and its
  value is 1 to 8.
- PNG: the first eXIf chunk before the first IDAT chunk, holding the TIFF structure itself (an
  "Exif\\0\\0" prefix makes it unreadable), with an intact CRC; the same entry rules.
- WebP: never (Chromium ignores WebP's EXIF chunk).
"""

from __future__ import annotations

import struct

from PIL import Image

from tessera import jpeg_segments, png_chunks

_TAG_ORIENTATION = 0x0112
_TYPE_SHORT = 3
_ENTRY_SIZE = 12

# The transposition that makes an image with this EXIF orientation upright (the EXIF/TIFF table).
TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def browser_orientation(data: bytes, fmt: str) -> int:
    """EXIF orientation 1..8 that a browser applies to this file ('png', 'jpeg' or 'webp'); 1 = as stored.

    Reads only headers and never raises: anything unreadable means 1.
    """
    if fmt == "jpeg":
        tiff = jpeg_segments.exif_block(data)
    elif fmt == "png":
        tiff = _png_exif(data)
    else:
        tiff = None
    return tiff_orientation(tiff) if tiff else 1


def swaps_sides(orientation: int) -> bool:
    """Whether the upright image is the stored one turned a quarter (width and height swap)."""
    return orientation in (5, 6, 7, 8)


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned or mirrored as the orientation says; the same image for 1."""
    transpose = TRANSPOSE.get(orientation)
    return image.transpose(transpose) if transpose is not None else image


def tiff_orientation(tiff: bytes) -> int:
    """Orientation from the first orientation entry of a TIFF structure's IFD0, or 1.

    The entry counts only if it is one SHORT of value 1..8; the IFD's declared entry count may
    overstate the entries present (Chromium reads what is there).
    """
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return 1
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for start in range(ifd + 2, min(ifd + 2 + count * _ENTRY_SIZE, len(tiff) - _ENTRY_SIZE + 1), _ENTRY_SIZE):
        tag, kind, values = struct.unpack_from(order + "HHI", tiff, start)
        if tag != _TAG_ORIENTATION:
            continue
        if kind != _TYPE_SHORT or values != 1:
            return 1
        (value,) = struct.unpack_from(order + "H", tiff, start + 8)
        return value if 1 <= value <= 8 else 1
    return 1


def _png_exif(data: bytes) -> bytes | None:
    """The first eXIf chunk before the image data, if intact, or None."""
    return png_chunks.first_chunk(data, b"eXIf")
