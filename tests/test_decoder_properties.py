"""Property-based tests of the shared decoder (tessera.imageio): generated PNGs in every colour type,
bit depth and way of storing transparency give the pixels a browser shows on white; orientation is
applied only where browsers apply it; and any bytes at all (truncated, flipped, polyglot, absurd
declared sizes) give pixels or an ImageFormatError, never another exception, and quickly."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tessera.imageio import ImageFormatError, ImageTooLargeError, decode_image
from tests.support.decoder_cases import (
    EXIF,
    XMP_ORIENTATION_6,
    app1,
    imagemagick_exif_text,
    jpeg,
    oriented,
    quadrants,
    webp,
)
from tests.support.png_writer import GREY, GREY_ALPHA, PALETTE, RGB, RGBA, chunk, png_bytes

BOUNDED = settings(max_examples=50, deadline=None)
DEPTHS = {GREY: (1, 2, 4, 8, 16), RGB: (8, 16), PALETTE: (1, 2, 4, 8), GREY_ALPHA: (8, 16), RGBA: (8, 16)}
CHANNELS = {GREY: 1, RGB: 3, PALETTE: 1, GREY_ALPHA: 2, RGBA: 4}


def to8(samples: np.ndarray, depth: int) -> np.ndarray:
    """Samples of a bit depth as 8-bit levels: low depths scaled up exactly, 16 bits cut to the high byte."""
    if depth == 16:
        return samples >> 8
    return samples * (255 // ((1 << depth) - 1))


def on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.int64)
    return (rgb.astype(np.int64) * a + 255 * (255 - a) + 127) // 255


@st.composite
def pngs(draw):
    """(file bytes, the RGB a browser shows on white) for a random PNG of any colour type and depth."""
    kind = draw(st.sampled_from(sorted(DEPTHS)))
    depth = draw(st.sampled_from(DEPTHS[kind]))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    levels = 1 << depth
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Few distinct values, so that a colour key recurs across the image.
    values = rng.integers(0, levels, (3, CHANNELS[kind]))
    samples = values[rng.integers(0, 3, (height, width))].astype(np.int64)
    trns, palette = None, None
    if kind == PALETTE:
        palette = rng.integers(0, 256, (levels, 3))
        alphas = rng.integers(0, 256, draw(st.integers(0, levels)))
        trns = bytes(alphas.astype(np.uint8)) if len(alphas) else None
        index = samples[..., 0]
        alpha = np.where(index < len(alphas), np.append(alphas, 0)[np.minimum(index, len(alphas))], 255)
        expected = on_white(palette[index], alpha)
    elif kind in (GREY, RGB):
        key = samples[0, 0] if draw(st.booleans()) else None
        if key is not None:
            trns = b"".join(int(v).to_bytes(2, "big") for v in key)
        grey_or_rgb = to8(samples, depth)
        rgb = np.repeat(grey_or_rgb, 3, axis=2) if kind == GREY else grey_or_rgb
        keyed = np.all(samples == key, axis=2) if key is not None else np.zeros((height, width), bool)
        expected = np.where(keyed[..., None], 255, rgb)
    else:
        eight = to8(samples, depth)
        colour = np.repeat(eight[..., :1], 3, axis=2) if kind == GREY_ALPHA else eight[..., :3]
        expected = on_white(colour, eight[..., -1])
    return png_bytes(samples, kind, depth, trns=trns, palette=palette), expected


@BOUNDED
@given(case=pngs())
def test_every_png_shows_as_a_browser_shows_it_on_white(case):
    data, expected = case
    assert np.array_equal(decode_image(data).astype(np.int64), expected)


# The stored image is quadrants(); each orientation turns or mirrors it into this (EXIF/TIFF table).
UPRIGHT = {
    1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
    5: lambda a: np.transpose(a, (1, 0, 2)), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(np.flipud(a), 1), 8: lambda a: np.rot90(a, 1),
}


@BOUNDED
@given(orientation=st.integers(1, 8), big_endian=st.booleans())
def test_a_png_exif_orientation_is_applied_as_the_table_says(orientation, big_endian):
    data = png_bytes(quadrants(), RGB, 8, before_idat=[chunk(b"eXIf", oriented(orientation, big_endian=big_endian))])
    assert np.array_equal(decode_image(data), UPRIGHT[orientation](quadrants()))


IGNORED_BY_BROWSERS = {
    "xmp in jpeg": lambda v: jpeg([app1(b"http://ns.adobe.com/xap/1.0/\x00" +
                                        XMP_ORIENTATION_6.replace(b'"6"', b'"%d"' % v))]),
    "webp exif": lambda v: webp(exif=EXIF + oriented(v)),
    "png eXIf after the image data": lambda v: png_bytes(quadrants(), RGB, 8,
                                                         after_idat=[chunk(b"eXIf", oriented(v))]),
    "jpeg exif LONG": lambda v: jpeg([app1(EXIF + oriented(v, kind=4))]),
    "jpeg exif count 2": lambda v: jpeg([app1(EXIF + oriented(v, count=2))]),
    "imagemagick text": lambda v: _png_text("Raw profile type exif", imagemagick_exif_text().replace(
        oriented(6).hex(), oriented(v).hex())),
}


def _png_text(key: str, text: str) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, text)
    buffer = io.BytesIO()
    Image.fromarray(quadrants()).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@BOUNDED
@given(orientation=st.integers(2, 8), where=st.sampled_from(sorted(IGNORED_BY_BROWSERS)))
def test_orientation_stored_where_browsers_ignore_it_is_ignored(orientation, where):
    decoded = decode_image(IGNORED_BY_BROWSERS[where](orientation)).astype(int)
    assert decoded.shape == quadrants().shape
    assert np.abs(decoded - quadrants()).mean() < 3  # as stored (lossy formats differ by a few levels)


SAMPLES = {
    "png": png_bytes(np.arange(48 * 3).reshape(4, 12, 3) % 256, RGB, 8),
    "jpeg": jpeg(),
    "webp": webp(lossless=False),
    "jpeg with exif": jpeg([app1(EXIF + oriented(6))]),
}


def decodes_or_refuses(data: bytes, max_pixels: int = 10_000_000) -> None:
    started = time.perf_counter()
    try:
        pixels = decode_image(data, max_pixels)
    except ImageFormatError:
        pass
    else:
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        assert pixels.shape[0] * pixels.shape[1] <= max_pixels
    assert time.perf_counter() - started < 5


@pytest.mark.serial  # serial pass of `make test`: each decode within 5 s
@BOUNDED
@given(name=st.sampled_from(sorted(SAMPLES)), cut=st.floats(0, 1))
def test_a_truncated_file_decodes_or_is_refused(name, cut):
    data = SAMPLES[name]
    decodes_or_refuses(data[: int(len(data) * cut)])


@pytest.mark.serial  # serial pass of `make test`: each decode within 5 s
@BOUNDED
@given(name=st.sampled_from(sorted(SAMPLES)), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                                             min_size=1, max_size=8))
def test_a_corrupted_file_decodes_or_is_refused(name, flips):
    data = bytearray(SAMPLES[name])
    for where, mask in flips:
        data[min(int(where * len(data)), len(data) - 1)] ^= mask
    decodes_or_refuses(bytes(data))


@pytest.mark.serial  # serial pass of `make test`: each decode within 5 s
@BOUNDED
@given(first=st.sampled_from(sorted(SAMPLES)), second=st.sampled_from(sorted(SAMPLES)),
       junk=st.binary(max_size=64))
def test_a_polyglot_decodes_as_its_first_format_or_is_refused(first, second, junk):
    decodes_or_refuses(SAMPLES[first] + junk + SAMPLES[second])


@pytest.mark.serial  # serial pass of `make test`: each decode within 5 s
@BOUNDED
@given(data=st.binary(max_size=256), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff",
                                                             b"RIFF\x00\x00\x00\x00WEBPVP8 "]))
def test_arbitrary_bytes_decode_or_are_refused(data, prefix):
    decodes_or_refuses(prefix + data)


@pytest.mark.serial  # serial pass of `make test`: each refusal within 2 s
@BOUNDED
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1), fmt=st.sampled_from(["png", "jpeg"]))
def test_a_huge_declared_size_is_refused_from_the_header(width, height, fmt):
    if fmt == "png":
        data = png_bytes(np.zeros((1, 1, 3), np.int64), RGB, 8)
        body = width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[24:29]
        data = data[:16] + body + chunk(b"IHDR", body)[-4:] + data[33:]
    else:
        if width > 65535 or height > 65535:
            width, height = min(width, 65535), min(height, 65535)
        data = bytearray(jpeg())
        at = data.index(b"\xff\xc0") + 5
        data[at:at + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
        data = bytes(data)
    started = time.perf_counter()
    try:
        decode_image(data, max_pixels=1_000_000)
    except ImageTooLargeError as refused:
        assert width * height > 1_000_000 and refused.size == (width, height)
    except ImageFormatError:  # damaged: the data does not fit the declared size
        assert width * height <= 1_000_000
    else:
        assert width * height <= 1_000_000
    assert time.perf_counter() - started < 2
