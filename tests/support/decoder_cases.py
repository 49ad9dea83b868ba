"""Generated files that store orientation and transparency in every way we know of, to decode in
Chromium and in tessera.imageio and compare (tests/browser/test_decoder_matches_chromium.py).

Each case is (bytes, lossy): lossy cases are compared loosely (two JPEG decoders may differ by a few
levels), lossless ones almost exactly.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, PngImagePlugin

from tests.support.png_writer import (
    GREY,
    GREY_ALPHA,
    PALETTE,
    RGB,
    RGBA,
    chunk,
    grey_key,
    png_bytes,
    rgb_key,
)

EXIF = b"Exif\x00\x00"
XMP_ORIENTATION_6 = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    b'<?xpacket end="w"?>')


def quadrants(width: int = 96, height: int = 48) -> np.ndarray:
    """Red, green / blue, yellow quadrants: every one of the 8 orientations gives a different picture."""
    pixels = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    pixels[:h, :w], pixels[:h, w:] = (255, 0, 0), (0, 255, 0)
    pixels[h:, :w], pixels[h:, w:] = (0, 0, 255), (255, 255, 0)
    return pixels


def tiff(entries: list[tuple[int, int, int, int]], big_endian: bool = False, ifd_offset: int = 8,
         declared: int | None = None) -> bytes:
    """A TIFF structure whose IFD0 holds `entries` of (tag, type, count, value)."""
    order = ">" if big_endian else "<"
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", ifd_offset)
    ifd = struct.pack(order + "H", len(entries) if declared is None else declared)
    for tag, kind, count, value in entries:
        packed = struct.pack(order + "HH", value, 0) if kind in (3, 8) else struct.pack(order + "I", value)
        ifd += struct.pack(order + "HHI", tag, kind, count) + packed
    return head + b"\x00" * max(0, ifd_offset - 8) + ifd + b"\x00\x00\x00\x00"


def oriented(value: int, **options) -> bytes:
    """TIFF with one orientation entry (SHORT, count 1 unless `kind`/`count` say otherwise)."""
    kind, count = options.pop("kind", 3), options.pop("count", 1)
    return tiff([(0x0112, kind, count, value)], **options)


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg(segments: list[bytes] = (), after_frame_header: bool = False, pixels: np.ndarray | None = None) -> bytes:
    """A JPEG of `pixels` (default: quadrants) with extra marker segments after SOI (or after SOF0)."""
    buffer = io.BytesIO()
    Image.fromarray(quadrants() if pixels is None else pixels).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    at = 2
    if after_frame_header:
        at = data.index(b"\xff\xc0")
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return data[:at] + b"".join(segments) + data[at:]


def png(before_idat: list[bytes] = (), after_idat: list[bytes] = ()) -> bytes:
    return png_bytes(quadrants(), RGB, 8, before_idat=before_idat, after_idat=after_idat)


def png_with_text(key: str, text: str, international: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    (info.add_itxt if international else info.add_text)(key, text)
    buffer = io.BytesIO()
    Image.fromarray(quadrants()).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def webp(lossless: bool = True, pixels: np.ndarray | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(quadrants() if pixels is None else pixels).save(buffer, "WEBP", lossless=lossless,
                                                                    quality=95, **options)
    return buffer.getvalue()


def imagemagick_exif_text() -> str:
    """ImageMagick's "Raw profile type exif" text: the EXIF block in hex, which Pillow reads."""
    block = EXIF + oriented(6)
    return f"\nexif\n{len(block):8d}\n{block.hex()}\n"


def orientation_cases() -> dict[str, tuple[bytes, bool]]:
    cases = {f"jpeg exif {v}": (jpeg([app1(EXIF + oriented(v))]), True) for v in range(1, 9)}
    cases.update({f"png eXIf {v}": (png([chunk(b"eXIf", oriented(v))]), False) for v in range(1, 9)})
    cases.update({
        "jpeg exif big-endian 8": (jpeg([app1(EXIF + oriented(8, big_endian=True))]), True),
        "jpeg exif LONG": (jpeg([app1(EXIF + oriented(6, kind=4))]), True),
        "jpeg exif SSHORT": (jpeg([app1(EXIF + oriented(6, kind=8))]), True),
        "jpeg exif count 2": (jpeg([app1(EXIF + oriented(6, count=2))]), True),
        "jpeg exif count 0": (jpeg([app1(EXIF + oriented(6, count=0))]), True),
        "jpeg exif value 0": (jpeg([app1(EXIF + oriented(0))]), True),
        "jpeg exif value 9": (jpeg([app1(EXIF + oriented(9))]), True),
        "jpeg exif without Exif header": (jpeg([app1(oriented(6))]), True),
        "jpeg exif header Exif\\0\\xff": (jpeg([app1(b"Exif\x00\xff" + oriented(6))]), True),
        "jpeg exif header Exif\\xff\\0": (jpeg([app1(b"Exif\xff\x00" + oriented(6))]), True),
        "jpeg exif bad TIFF magic": (jpeg([app1(EXIF + b"II+\x00" + oriented(6)[4:])]), True),
        "jpeg exif IFD beyond the block": (jpeg([app1(EXIF + oriented(6, ifd_offset=4000)[:8])]), True),
        "jpeg exif IFD at 16": (jpeg([app1(EXIF + oriented(6, ifd_offset=16))]), True),
        "jpeg exif count overstated": (jpeg([app1(EXIF + oriented(6, declared=5))]), True),
        "jpeg exif orientation second entry": (
            jpeg([app1(EXIF + tiff([(0x0100, 3, 1, 96), (0x0112, 3, 1, 6)]))]), True),
        "jpeg exif two orientation entries 6, 3": (
            jpeg([app1(EXIF + tiff([(0x0112, 3, 1, 6), (0x0112, 3, 1, 3)]))]), True),
        "jpeg two exif segments 6, 3": (jpeg([app1(EXIF + oriented(6)), app1(EXIF + oriented(3))]), True),
        "jpeg xmp segment then exif 6": (
            jpeg([app1(b"http://ns.adobe.com/xap/1.0/\x00" + XMP_ORIENTATION_6), app1(EXIF + oriented(6))]), True),
        "jpeg exif after the frame header": (jpeg([app1(EXIF + oriented(6))], after_frame_header=True), True),
        "jpeg xmp only": (jpeg([app1(b"http://ns.adobe.com/xap/1.0/\x00" + XMP_ORIENTATION_6)]), True),
        "png eXIf after IDAT": (png(after_idat=[chunk(b"eXIf", oriented(6))]), False),
        "png eXIf with Exif header": (png([chunk(b"eXIf", EXIF + oriented(6))]), False),
        "png two eXIf 6, 3": (png([chunk(b"eXIf", oriented(6)), chunk(b"eXIf", oriented(3))]), False),
        "png eXIf LONG": (png([chunk(b"eXIf", oriented(6, kind=4))]), False),
        "png eXIf big-endian 7": (png([chunk(b"eXIf", oriented(7, big_endian=True))]), False),
        "png imagemagick exif text": (png_with_text("Raw profile type exif", imagemagick_exif_text()), False),
        "png xmp": (png_with_text("XML:com.adobe.xmp", XMP_ORIENTATION_6.decode(), international=True), False),
        "webp exif 6 lossless": (webp(exif=EXIF + oriented(6)), False),
        "webp exif 6 lossy": (webp(lossless=False, exif=EXIF + oriented(6)), True),
        "webp exif 6 without header": (webp(exif=oriented(6)), False),
        "webp xmp": (webp(xmp=XMP_ORIENTATION_6), False),
    })
    return cases


def _gradient_samples(height: int, width: int, channels: int, levels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, levels, (height, width, channels))


def transparency_cases() -> dict[str, tuple[bytes, bool]]:
    cases: dict[str, tuple[bytes, bool]] = {}
    for depth in (1, 2, 4, 8, 16):
        samples = _gradient_samples(20, 24, 1, 1 << depth, depth)
        key = int(samples[0, 0, 0])
        cases[f"png grey {depth}-bit key"] = (png_bytes(samples, GREY, depth, trns=grey_key(key)), False)
    for depth in (8, 16):
        samples = _gradient_samples(20, 24, 3, 4, depth) * ((1 << depth) - 1) // 3  # few colours: the key recurs
        key = samples[0, 0].tolist()
        cases[f"png rgb {depth}-bit key"] = (png_bytes(samples, RGB, depth, trns=rgb_key(*key)), False)
        cases[f"png grey+alpha {depth}-bit"] = (png_bytes(_gradient_samples(20, 24, 2, 1 << depth, 5), GREY_ALPHA,
                                                          depth), False)
        cases[f"png rgba {depth}-bit"] = (png_bytes(_gradient_samples(20, 24, 4, 1 << depth, 6), RGBA, depth), False)
    # 16-bit RGB whose other pixels share the key's high bytes: only the low bytes tell them apart.
    near = np.full((8, 8, 3), 0x1234)
    near[::2, ::2] = (0x1200, 0x1200, 0x1200)
    cases["png rgb 16-bit key, same high bytes"] = (png_bytes(near, RGB, 16, trns=rgb_key(0x1200, 0x1200, 0x1200)),
                                                    False)
    cases["png rgb key matching nothing"] = (png_bytes(_gradient_samples(8, 8, 3, 200, 1), RGB, 8,
                                                       trns=rgb_key(250, 250, 250)), False)
    for depth in (1, 2, 4, 8):
        colours = 1 << depth
        palette = np.random.default_rng(depth).integers(0, 256, (colours, 3))
        alphas = bytes(np.linspace(0, 255, min(colours, 5)).astype(np.uint8))
        cases[f"png palette {depth}-bit tRNS"] = (png_bytes(_gradient_samples(20, 24, 1, colours, 9), PALETTE, depth,
                                                            palette=palette, trns=alphas), False)
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[..., :3] = _gradient_samples(20, 24, 3, 256, 3)
    rgba[..., 3] = np.linspace(0, 255, 24).astype(np.uint8)
    cases["webp alpha lossless"] = (webp(pixels=rgba), False)
    cases["webp alpha lossy"] = (webp(lossless=False, pixels=rgba), True)
    return cases
