"""Test pictures made on the spot with Pillow: photos, odd modes, broken and hostile files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageCms


def gradient(width: int = 96, height: int = 64) -> np.ndarray:
    """An RGB8 picture whose left and top edges are recognisable after any rotation."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                     np.full((height, width), 128.0)], axis=2).astype(np.uint8)


def encoded(image: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    """The picture saved as `fmt` (PNG, JPEG, WEBP, GIF, ...) with Pillow's save options."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# The first bytes of ISO base media files that hold no video: a HEIC photo (Pillow writes none) and an
# M4A song. Their `ftyp` box is an MP4's; the major brand tells them apart.
HEIC_HEAD = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(16)
M4A_HEAD = b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(16)


def iso_media(fmt: str, frames: int) -> bytes:
    """A real AVIF photo (one frame) or AVIF image sequence (major brand 'avis'), made by Pillow."""
    pictures = [Image.fromarray(gradient()).rotate(180 * i) for i in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, fmt, save_all=frames > 1, append_images=pictures[1:], duration=100)
    return buffer.getvalue()


def animation(fmt: str, frames: int) -> bytes:
    """A real GIF, animated WebP or animated PNG (fmt "PNG") of `frames` frames, made by Pillow; one
    frame of WebP or PNG stays animated (VP8X, ANIM, one ANMF; acTL declaring one frame), as an editor's
    export of a one-frame animation is."""
    # Pillow writes one WebP or PNG frame as a plain still, so a one-frame animation is cut from a
    # two-frame one.
    made = 2 if fmt in ("WEBP", "PNG") else frames
    pictures = [Image.fromarray(gradient()).rotate(180 * i) for i in range(made)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, fmt, save_all=made > 1, append_images=pictures[1:], duration=100, loop=0)
    data = buffer.getvalue()
    if made > frames:
        return _first_png_frame_only(data) if fmt == "PNG" else _first_frame_only(data)
    return data


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _first_png_frame_only(apng: bytes) -> bytes:
    """The APNG with its acTL declaring one frame and the second frame's chunks (fcTL, fdAT) dropped."""
    out, pos, seen_data = [apng[:8]], 8, False
    while pos + 12 <= len(apng):
        length, kind = struct.unpack_from(">I4s", apng, pos)
        body = apng[pos + 8:pos + 8 + length]
        seen_data |= kind == b"IDAT"
        if kind == b"acTL":
            out.append(_png_chunk(kind, struct.pack(">I", 1) + body[4:]))
        elif not (seen_data and kind in (b"fcTL", b"fdAT")):
            out.append(apng[pos:pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


def _first_frame_only(webp: bytes) -> bytes:
    chunks, pos = [], 12
    while pos + 8 <= len(webp):
        size = int.from_bytes(webp[pos + 4:pos + 8], "little")
        chunks.append(webp[pos:pos + 8 + size + (size & 1)])
        pos += 8 + size + (size & 1)
    frames = [c for c in chunks if c[:4] == b"ANMF"]
    body = b"WEBP" + b"".join(c for c in chunks if c[:4] != b"ANMF") + frames[0]
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def with_exif_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    """A JPEG of `pixels` whose EXIF says to rotate it (6 = turn 90° clockwise to view)."""
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make: metadata that must not survive
    return encoded(image, "JPEG", exif=exif.tobytes(), quality=95)


def swapped_primaries_profile() -> bytes:
    """An ICC profile like sRGB but with the red and green primaries exchanged: a wide-gamut stand-in
    whose effect is easy to see (its "red" is sRGB green)."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", profile[128:132])
    entries = {bytes(profile[at:at + 4]): at for at in range(132, 132 + 12 * count, 12)}
    red, green = entries[b"rXYZ"] + 4, entries[b"gXYZ"] + 4  # each entry: signature, offset, size
    profile[red:red + 8], profile[green:green + 8] = profile[green:green + 8], profile[red:red + 8]
    return bytes(profile)
