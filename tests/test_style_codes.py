"""Style codes: mixing by weight, strength toward the photo's own code, and the server's Conditioner."""

import numpy as np
import pytest

from inference_server.conditioning import Conditioner, Preset, Source
from inference_server.errors import InvalidRequest
from tessera.style_codes import StyleCodeError, encoder_input, mix_codes, with_strength


def test_codes_are_mixed_by_normalised_weights():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.allclose(mix_codes([a, b], [3, 1]), [0.75, 0.25])
    assert np.allclose(mix_codes([a], [0.2]), a)


@pytest.mark.parametrize(("weights", "message"), [([0, 0], "not all be 0"), ([1, -1], ">= 0"),
                                                   ([1], "need as many"), ([1, float("inf")], "finite")])
def test_bad_mix_weights_say_why(weights, message):
    with pytest.raises(StyleCodeError, match=message):
        mix_codes([np.zeros(2), np.ones(2)], weights)


def test_strength_interpolates_toward_the_photos_code():
    style, photo = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    assert np.allclose(with_strength(style, photo, 1.0), style)
    assert np.allclose(with_strength(style, photo, 0.0), photo)
    assert np.allclose(with_strength(style, photo, 0.25), [0.5, 1.5])


def test_encoder_input_is_the_centred_square_in_signed_range():
    image = np.zeros((40, 100, 3), np.uint8)
    image[:, 30:70] = 255  # the centred 40x40 square is white, the sides black
    x = encoder_input(image, 16)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x, 1.0, atol=1e-6)


def _conditioner(encoder=None) -> Conditioner:
    presets = [Preset("red", "Red", np.array([1.0, 0.0, 0.0], np.float32)),
               Preset("blue", "Blue", np.array([0.0, 0.0, 1.0], np.float32))]
    return Conditioner(3, presets, encoder, 8)


def test_conditioner_mixes_presets_and_images_and_defaults_to_the_first_preset():
    encoded = []

    def encoder(x):
        encoded.append(x.shape)
        return np.array([[0.0, 1.0, 0.0]], np.float32)

    conditioner = _conditioner(encoder)
    assert np.allclose(conditioner.code_for((), None, 1.0), [1, 0, 0])
    image = np.full((20, 30, 3), 128, np.uint8)
    code = conditioner.code_for((Source(0.5, preset="blue"), Source(0.5, image=image)), None, 1.0)
    assert np.allclose(code, [0, 0.5, 0.5]) and encoded == [(1, 3, 8, 8)]
    # strength 0.5 moves halfway to the photo's own code (the encoder's answer for the thumbnail)
    assert np.allclose(conditioner.code_for((Source(1, preset="red"),), image, 0.5), [0.5, 0.5, 0])


def test_conditioner_refuses_unknown_presets_and_images_without_an_encoder():
    conditioner = _conditioner()
    with pytest.raises(InvalidRequest, match="unknown preset 'green'; this style has red, blue"):
        conditioner.code_for((Source(1, preset="green"),), None, 1.0)
    with pytest.raises(InvalidRequest, match="no encoder"):
        conditioner.code_for((Source(1, image=np.zeros((4, 4, 3), np.uint8)),), None, 1.0)
    assert not conditioner.strength_moves_code
