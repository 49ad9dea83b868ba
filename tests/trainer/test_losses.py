"""Loss functions: multi-scale adversarial targets, Gram matrices, texture (style), tone and colour layout."""

import pytest
import torch

from trainer.losses import GANLoss, PerceptualLoss, StyleLoss, colour_layout_loss, gram, tone_layout_loss


def test_gan_loss_of_a_multi_scale_discriminator_is_the_mean_over_scales():
    loss = GANLoss("lsgan")
    scales = [torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 2.0)]
    # Against "real" (1): squared errors 1 and 1 -> mean 1; against "fake" (0): 0 and 4 -> mean 2.
    assert loss(scales, True).item() == pytest.approx(1.0)
    assert loss(scales, False).item() == pytest.approx(2.0)


def test_gram_matrix_holds_channel_correlations_normalised_by_size():
    maps = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # N=1, C=2, H=1, W=2
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    assert torch.allclose(gram(maps), expected)


def test_style_loss_compares_texture_and_reaches_the_output():
    style = StyleLoss()
    gen = torch.Generator().manual_seed(0)
    smooth = torch.linspace(-1, 1, 64).repeat(2, 3, 64, 1)
    noisy = (torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1).requires_grad_(True)
    assert style(smooth, smooth).item() == pytest.approx(0.0, abs=1e-9)
    loss = style(noisy, smooth)
    assert loss.item() > 0
    loss.backward()
    assert noisy.grad is not None and noisy.grad.abs().sum() > 0
    assert all(p.grad is None for p in style.features.parameters())


@pytest.mark.parametrize("loss_class", [PerceptualLoss, StyleLoss])
def test_feature_losses_stay_frozen_inside_a_model_in_training_mode(loss_class):
    loss = loss_class().train(True)
    assert not any(m.training for m in loss.features.modules())  # batch-norm statistics never move
    assert not any(p.requires_grad for p in loss.parameters())


def test_tone_layout_loss_frees_colour_and_texture_but_not_an_inverted_layout():
    gen = torch.Generator().manual_seed(0)
    # A photo with a light left half and a dark right half.
    photo = torch.cat([torch.full((2, 3, 32, 16), 0.6), torch.full((2, 3, 32, 16), -0.6)], dim=3)
    regraded = (0.4 * photo + 0.2) * torch.tensor([1.0, 0.8, 0.5])[None, :, None, None]  # colour grade
    # Strokes 4 px wide, much finer than the 8 px blur, in changing colours.
    strokes = torch.rand(2, 1, 8, 8, generator=gen).repeat_interleave(4, 2).repeat_interleave(4, 3) - 0.5
    brushed = photo + 0.125 * strokes.sign() * torch.tensor([1.0, -1.0, 1.0])[None, :, None, None]
    inverted = -photo
    assert tone_layout_loss(regraded, photo).item() == pytest.approx(0.0, abs=1e-4)
    assert tone_layout_loss(brushed, photo).item() < 0.05
    assert tone_layout_loss(inverted, photo).item() == pytest.approx(2.0, abs=1e-4)
    output = inverted.clone().requires_grad_(True)
    tone_layout_loss(output, photo).backward()
    assert output.grad.abs().sum() > 0


def test_colour_layout_loss_sees_a_colour_cast_but_not_strokes_finer_than_its_blur():
    gen = torch.Generator().manual_seed(0)
    # An orange left half and a blue right half, 32 px wide each.
    left = torch.tensor([0.8, 0.2, -0.6])[None, :, None, None].expand(2, 3, 64, 32)
    right = torch.tensor([-0.6, -0.1, 0.7])[None, :, None, None].expand(2, 3, 64, 32)
    photo = torch.cat([left, right], dim=3)
    # Strokes 4 px wide of +-0.2 in every channel (grey), averaging out within the 16 px blur.
    strokes = (torch.rand(2, 1, 16, 16, generator=gen).repeat_interleave(4, 2).repeat_interleave(4, 3) - 0.5).sign()
    brushed = photo + 0.2 * strokes.expand(2, 3, 64, 64)
    shifted = photo + torch.tensor([0.1, 0.1, -0.1])[None, :, None, None]  # yellow-blue up by 0.2
    olive = torch.tensor([0.0, 0.1, -0.5])[None, :, None, None].expand(2, 3, 64, 64)  # one colour everywhere
    assert colour_layout_loss(photo, photo).item() == 0.0
    assert colour_layout_loss(brushed, photo).item() == pytest.approx(0.0, abs=1e-6)  # grey strokes: no colour
    assert colour_layout_loss(shifted, photo).item() == pytest.approx(0.1, abs=1e-5)  # (0 + 0.2) / 2
    assert colour_layout_loss(olive, photo).item() > 0.5
    output = olive.clone().requires_grad_(True)
    colour_layout_loss(output, photo).backward()
    assert output.grad.abs().sum() > 0
