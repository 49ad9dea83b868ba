"""Differentiable augmentation: what each transform does, gradients, reproducibility, bad policies."""

import pytest
import torch

from trainer.diffaug import augment, parse_policy


def _images() -> torch.Tensor:
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_translation_shifts_content_and_fills_with_zeros():
    x = torch.ones(4, 3, 32, 32)
    y = augment(x, ("translation",), torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert (y == 1).sum() >= 4 * 3 * 28 * 28  # at most 4 px (1/8) shifted out per axis


def test_cutout_zeroes_a_quarter_of_each_image():
    y = augment(torch.ones(2, 3, 32, 32), ("cutout",), torch.Generator().manual_seed(2))
    assert [int((img == 0).sum()) for img in y] == [3 * 16 * 16] * 2


def test_colour_changes_images_but_keeps_their_shape():
    x = _images()
    y = augment(x, ("color",), torch.Generator().manual_seed(3))
    assert y.shape == x.shape and not torch.allclose(x, y)


def test_augmentation_is_differentiable_and_reproducible():
    x = _images().requires_grad_(True)
    policy = parse_policy("color,translation,cutout")
    y1 = augment(x, policy, torch.Generator().manual_seed(4))
    y2 = augment(x, policy, torch.Generator().manual_seed(4))
    assert torch.equal(y1, y2)
    y1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("policy, expected", [("", ()), ("color, cutout", ("color", "cutout"))])
def test_policies_parse(policy, expected):
    assert parse_policy(policy) == expected


def test_an_unknown_transform_is_named():
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        parse_policy("color,flip")
