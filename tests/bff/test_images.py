"""bff.images: what an upload must be, and how odd but valid photos become clean RGB pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bff import images
from bff.errors import ApiError
from tessera import formats
from tests.bff.pictures import encoded, gradient, png_declaring, swapped_primaries_profile, with_exif_orientation

LIMIT = 50_000_000


def decode(data: bytes, max_pixels: int = LIMIT) -> images.DecodedImage:
    return images.decode_upload(data, max_pixels)


@pytest.mark.parametrize("fmt, expected", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_format_is_detected_from_content(fmt, expected):
    assert formats.sniff(encoded(gradient(), fmt)).name == expected


@pytest.mark.parametrize("data", [
    b"just some text, not a picture",
    encoded(gradient(), "BMP"),
    encoded(gradient(), "TIFF"),
    b"",
], ids=["text", "bmp", "tiff", "empty"])  # a GIF's own sentence: tests/bff/test_still_frames.py
def test_other_content_is_unsupported_whatever_its_name(data):
    with pytest.raises(ApiError) as err:
        decode(data)
    assert err.value.status == 415
    assert "PNG, JPEG or WebP" in err.value.message


@pytest.mark.parametrize("width, height", [(8000, 7000), (100_000, 100_000)], ids=["56MP", "bomb-10GP"])
def test_pixel_count_is_refused_from_the_header_before_decoding(width, height):
    with pytest.raises(ApiError) as err:
        decode(png_declaring(width, height))
    assert err.value.status == 413
    assert "50 megapixels" in err.value.message


def test_pixel_limit_is_configurable():
    with pytest.raises(ApiError) as err:
        decode(encoded(gradient(100, 100)), max_pixels=9_999)
    assert err.value.status == 413 and "100×100" in err.value.message
    assert decode(encoded(gradient(100, 100)), max_pixels=10_000).pixels.shape == (100, 100, 3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_undecodable(fmt):
    data = encoded(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8), fmt)
    with pytest.raises(ApiError) as err:
        decode(data[: len(data) // 2])
    assert err.value.status == 422


def test_exif_orientation_is_applied_and_metadata_dropped():
    pixels = gradient(96, 64)
    decoded = decode(with_exif_orientation(pixels, 6))  # 6: the camera was turned 90° clockwise
    assert decoded.pixels.shape == (96, 64, 3)
    upright = np.rot90(pixels, k=-1)
    assert np.abs(decoded.pixels.astype(int) - upright).mean() < 4
    again = Image.open(io.BytesIO(images.encode(decoded.pixels, "jpeg")))
    assert not again.getexif() and "icc_profile" not in again.info


def test_transparent_pixels_become_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # left half opaque red, right half fully transparent
    out = decode(encoded(rgba, "PNG")).pixels
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 9].tolist() == [255, 255, 255]


def test_sixteen_bit_greyscale_keeps_its_tones():
    deep = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    out = decode(encoded(Image.fromarray(deep), "PNG")).pixels
    assert out.dtype == np.uint8 and out.shape == (8, 64, 3)
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, -1].tolist() == [255, 255, 255]
    assert 120 <= out[0, 32, 0] <= 135  # mid-grey stays mid-grey instead of clipping to white


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA"])
def test_other_modes_become_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode(encoded(Image.fromarray(gradient()).convert(mode), fmt)).pixels
    assert out.shape == (64, 96, 3) and out.dtype == np.uint8


def test_embedded_colour_profile_is_converted_to_srgb():
    reddish = Image.new("RGB", (4, 4), (200, 30, 30))
    data = encoded(reddish, "PNG", icc_profile=swapped_primaries_profile())
    assert decode(data).pixels[0, 0].tolist() == [30, 200, 30]  # red under that profile is sRGB green


def test_a_broken_colour_profile_does_not_reject_the_photo():
    data = encoded(Image.new("RGB", (4, 4), (200, 30, 30)), "PNG", icc_profile=b"not a profile")
    assert decode(data).pixels[0, 0].tolist() == [200, 30, 30]


@pytest.mark.parametrize("fmt, mime", [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_encode_writes_the_requested_format(fmt, mime):
    data = images.encode(gradient(), fmt)
    assert formats.sniff(data).name == fmt and formats.get(fmt).mime_type == mime
    assert Image.open(io.BytesIO(data)).size == (96, 64)
