"""The pixel convention's fast paths (no float temporaries) give the same bits as the plain ones."""

import numpy as np
import pytest

from tessera.pixels import (
    blend_to_rgb8,
    pad_rgb8_to_multiple,
    pad_to_multiple,
    rgb8_to_chw,
    rgb8_to_signed,
    signed_to_rgb8,
)

RNG = np.random.default_rng(7)


def test_rgb8_to_chw_is_the_plain_conversion_contiguous():
    pixels = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    chw = rgb8_to_chw(pixels)
    assert chw.dtype == np.float32 and chw.flags.c_contiguous
    assert np.array_equal(chw, rgb8_to_signed(pixels).transpose(2, 0, 1))


@pytest.mark.parametrize("shape", [(37, 53), (40, 52), (3, 1), (16, 16)])
def test_padding_the_uint8_pixels_pads_like_the_float_image(shape):
    pixels = RNG.integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert np.array_equal(rgb8_to_chw(pad_rgb8_to_multiple(pixels, 4)), pad_to_multiple(rgb8_to_chw(pixels), 4))


@pytest.mark.parametrize("strength", [1.0, 0.37, 0.0])
def test_blending_in_place_gives_the_same_bits_and_only_overwrites_when_asked(strength):
    styled = RNG.uniform(-1.3, 1.3, (3, 29, 31)).astype(np.float32)  # outside [-1, 1] too: clipped
    original = RNG.integers(0, 256, (29, 31, 3), dtype=np.uint8)
    kept = styled.copy()
    plain = blend_to_rgb8(styled, original, strength)
    assert np.array_equal(styled, kept)
    assert np.array_equal(blend_to_rgb8(styled, original, strength, overwrite=True), plain)
    if strength == 1.0:
        assert np.array_equal(plain, signed_to_rgb8(kept.transpose(1, 2, 0)))
