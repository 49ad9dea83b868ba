"""The fixed Kuwahara filter: flat areas, sharp edges, any image size, tile-safe inside the generator."""

import numpy as np
import pytest
import torch

from tessera.colors import LUMA
from trainer.halo import measure_halo
from trainer.kuwahara import Kuwahara
from trainer.networks import define_G
from trainer.onnx_export import export_generator, session
from trainer.tiled_check import run_tiled, run_whole


def test_it_flattens_noise_but_keeps_an_edge_sharp():
    gen = torch.Generator().manual_seed(0)
    step = torch.zeros(1, 3, 40, 40)
    step[..., 20:] = 1.0
    noisy = step + 0.05 * torch.randn(step.shape, generator=gen)
    out = Kuwahara(radius=8)(noisy)
    assert out[..., 4:36, 2:12].std() < 0.2 * noisy[..., 4:36, 2:12].std()  # a flat area gets flatter
    # Across the edge the values jump from one side to the other within one pixel, as in the input.
    assert torch.allclose(out[0, :, 20, 19], torch.zeros(3), atol=0.05)
    assert torch.allclose(out[0, :, 20, 20], torch.ones(3), atol=0.05)


def test_a_uniform_image_and_tiny_images_pass_through():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(Kuwahara(radius=4)(flat), flat)
    for size in (1, 2, 3):
        assert Kuwahara(radius=8)(torch.rand(1, 3, size, size)).shape == (1, 3, size, size)


def test_it_passes_gradients_to_the_generator_before_it():
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    Kuwahara(radius=4)(image).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_it_needs_a_positive_radius():
    with pytest.raises(ValueError, match="radius must be at least 1"):
        Kuwahara(radius=0)


def test_a_generator_ending_in_it_exports_and_tiles_without_seams(tmp_path):
    g = define_G("compact", upsample="resize", padding="replicate", kuwahara_radius=8, seed=0).eval()
    halo = measure_halo(g)
    assert halo == measure_halo(define_G("compact", upsample="resize", padding="replicate", seed=0)) + 8
    export_generator(g, tmp_path / "g.onnx", torch.rand(1, 3, 64, 64))
    ort = session(tmp_path / "g.onnx")

    def run(batch: np.ndarray) -> np.ndarray:
        return ort.run(None, {ort.get_inputs()[0].name: batch.astype(np.float32)})[0]

    image = np.random.default_rng(0).uniform(-1, 1, (3, 152, 232)).astype(np.float32)  # multiples of 4
    whole = run_whole(run, image, 4)
    with torch.no_grad():
        torch_whole = g(torch.from_numpy(image[None].copy()))[0].numpy()
    assert np.abs(whole - torch_whole).max() < 1e-4
    assert np.array_equal(run_tiled(run, image, 64, halo, 4), whole)
    assert run_whole(run, image[:, :3, :2], 4).shape == (3, 3, 2)  # smaller than the filter


def _four_squares_reference(rgb: torch.Tensor, r: int, sharpness: float = 8.0, eps: float = 1e-4) -> torch.Tensor:
    """The filter by its definition: each of the four (r+1)-squares with the pixel as a corner padded
    and averaged on its own, with the filter's own arithmetic (separable means, m * m, reciprocal then
    power), so only the arrangement differs."""
    pool = torch.nn.functional.avg_pool2d
    luma = (rgb * torch.tensor(LUMA).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
    stats = torch.cat([rgb, luma, luma * luma], dim=1)
    weighted_sum, total = 0.0, 0.0
    for left, top in ((r, r), (0, r), (r, 0), (0, 0)):
        padded = torch.nn.functional.pad(stats, (left, r - left, top, r - top), mode="replicate")
        means = pool(pool(padded, (r + 1, 1), stride=1), (1, r + 1), stride=1)
        variance = (means[:, 4:5] - means[:, 3:4] * means[:, 3:4]).clamp(min=0)
        weight = (variance + eps).reciprocal() ** (0.5 * sharpness)
        weighted_sum, total = weighted_sum + weight * means[:, :3], total + weight
    return weighted_sum / total


@pytest.mark.parametrize("radius", [1, 3, 8])
@pytest.mark.parametrize("size", [(1, 1), (2, 1), (3, 2), (17, 9), (40, 52)])
def test_one_box_filter_gives_the_four_squares_of_the_definition(radius, size):
    rgb = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(radius)) * 2 - 1
    assert (Kuwahara(radius)(rgb) - _four_squares_reference(rgb, radius)).abs().max() < 1e-6
