"""Tell a video clip from its first bytes, without importing PyAV (the CLI and the gateway ask this of
every upload; only clips need the video extra).

The one place that decides clip or still image: a GIF, animated WebP or animated PNG (APNG) holding a
single frame is a still image, so a one-frame WebP or APNG is a photo and a one-frame GIF a still in a
format Tessera does not read (STILL_GIF says so). Telling them apart counts frames, so sniff_clip needs
the whole file for GIF and WebP, and a PNG's chunks before its image data, where an APNG declares its
frames (acTL); read_for_sniff reads what it needs; the first 32 bytes are enough for the others.

Other multi-frame files Pillow could open are not clips here: a TIFF is no format Tessera reads (415),
and an MPO (a camera's JPEG with a second, preview or stereo, frame appended) is a JPEG photo: its
first frame is the picture, and the JPEG decoder reads only that."""

from __future__ import annotations

from typing import BinaryIO

from tessera import png_chunks
from tessera.formats import AVIF_BRANDS, HEIC_BRANDS

INPUT_LABELS = "MP4, MOV, WebM, animated GIF, animated WebP or animated PNG"
SNIFF_BYTES = 32  # enough for every container but GIF, WebP and PNG
STILL_GIF = ("That GIF holds a single frame, a still image, and GIF is not read as a photo: "
             "save it as PNG or JPEG and choose that file instead.")
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
# ISO base media files (an `ftyp` box first) whose major brand says they hold no video: HEIC and AVIF
# photos and image sequences (tessera.formats' brands, which name them in a refusal), HEIF coded with AVC,
# VVC or JPEG, JPEG 2000 in HEIF, a Canon CR3 raw photo, M4A/M4B/M4P and F4A/F4B audio. Every other brand
# is a clip of the MP4 family ('qt  ' a MOV), and an ftyp box too short to hold a brand and a minor version
# is none. frontend_static/clip_sniff.js keeps the same list.
NOT_VIDEO_BRANDS = frozenset({
    *HEIC_BRANDS, *AVIF_BRANDS, b"avci", b"avcs", b"jpeg", b"jpgs", b"vvic", b"vvis", b"j2ki", b"j2is", b"crx ",
    b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
# How a message names each kind sniff_clip tells: "an MP4" clip, "an animated WebP" (clip_sniff.js too).
CLIP_NAMES = {"mp4": "an MP4", "mov": "a MOV", "webm": "a WebM", "gif": "an animated GIF",
              "webp": "an animated WebP", "apng": "an animated PNG"}


def sniff_clip(data: bytes) -> str | None:
    """'mp4', 'mov', 'webm', 'gif', 'webp' or 'apng' from the file's bytes, or None. A GIF, animated WebP
    or APNG is a clip only with two frames or more, counted in `data` (pass the whole file for GIF and
    WebP; a PNG's chunks before its image data, as read_for_sniff reads them, are enough). An ISO base
    media file whose major brand is in NOT_VIDEO_BRANDS (a HEIC or AVIF photo, an M4A song) is None."""
    if data[4:8] == b"ftyp":
        return _iso_media_clip(data)
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if data[:6] in GIF_SIGNATURES:
        return "gif" if _gif_frames(data) > 1 else None
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X" and len(data) > 20 and data[20] & 0x02:
        # VP8X with the animation flag; a still WebP, or an animation of one frame, is an image
        return "webp" if _webp_frames(data) > 1 else None
    if data.startswith(png_chunks.SIGNATURE):
        return "apng" if apng_frames(data) > 1 else None
    return None


def _iso_media_clip(data: bytes) -> str | None:
    """'mp4' or 'mov' for a file starting with an ftyp box, by its major brand; None for a photo or
    audio brand, or a box (or file) too short to name one. The box's 32-bit size may also be 0 (the box
    runs to the end of the file) or 1 (a 64-bit size follows the type, and the brand after it), as
    ISO/IEC 14496-12 allows."""
    size, brand_at = int.from_bytes(data[:4], "big"), 8
    if size == 1:
        size, brand_at = int.from_bytes(data[8:16], "big"), 16
    elif size == 0:
        size = len(data)
    if len(data) < brand_at + 8 or size < brand_at + 8:  # the major brand and the minor version
        return None
    major_brand = data[brand_at:brand_at + 4]
    if major_brand in NOT_VIDEO_BRANDS:
        return None
    return "mov" if major_brand == b"qt  " else "mp4"


def apng_frames(data: bytes) -> int:
    """The frames a PNG's animation control chunk (acTL, before the image data) declares; 0 for a plain
    PNG or an acTL whose CRC fails: a browser drops such a chunk and shows the still image, so the file
    is no clip; Pillow refuses it whole, so a route that opens it as a photo answers that it is damaged."""
    control = png_chunks.first_chunk(data, b"acTL")
    return int.from_bytes(control[:4], "big") if control and len(control) >= 8 else 0


def read_for_sniff(file: BinaryIO) -> bytes:
    """The bytes sniff_clip needs, read from a binary file at its start: the first 32, the whole file
    for a GIF or WebP (RIFF), whose frames it counts, or a PNG as far as its image data."""
    head = file.read(SNIFF_BYTES)
    if head[:6] in GIF_SIGNATURES or head[:4] == b"RIFF":
        return head + file.read()
    if head.startswith(png_chunks.SIGNATURE):
        return _png_before_data(file, head)
    return head


def _png_before_data(file: BinaryIO, head: bytes) -> bytes:
    """`head` and what follows it in `file`, up to the header of the first IDAT chunk (or the end)."""
    data = bytearray(head)
    pos = len(png_chunks.SIGNATURE)
    while True:
        data += file.read(max(0, pos + 8 - len(data)))
        if len(data) < pos + 8 or data[pos + 4:pos + 8] == b"IDAT":
            return bytes(data)
        pos += 12 + int.from_bytes(data[pos:pos + 4], "big")
        data += file.read(max(0, pos - len(data)))


def is_still_gif(data: bytes) -> bool:
    """Whether `data` (the whole file) is a GIF of one frame (or none left readable): not a clip, and
    not a photo format either."""
    return data[:6] in GIF_SIGNATURES and _gif_frames(data) < 2


def _gif_frames(data: bytes, enough: int = 2) -> int:
    """Image descriptors in a GIF's block stream, counted up to `enough` (the stream is walked, not decoded)."""
    if len(data) < 13:
        return 0
    pos = 13 + _colour_table_bytes(data[10])
    frames = 0
    while pos < len(data) and frames < enough:
        block = data[pos]
        if block == 0x2C:  # image descriptor: 9 bytes, a local colour table, the LZW code size, sub-blocks
            if pos + 10 > len(data):
                break
            frames += 1
            pos = _skip_sub_blocks(data, pos + 11 + _colour_table_bytes(data[pos + 9]))
        elif block == 0x21:  # extension: its label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:  # the trailer (0x3B), or a damaged stream
            break
    return frames


def _colour_table_bytes(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp_frames(data: bytes, enough: int = 2) -> int:
    """ANMF chunks in an animated WebP's RIFF stream, counted up to `enough`."""
    pos, frames = 12, 0
    while pos + 8 <= len(data) and frames < enough:
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        frames += data[pos:pos + 4] == b"ANMF"
        pos += 8 + size + (size & 1)
    return frames
