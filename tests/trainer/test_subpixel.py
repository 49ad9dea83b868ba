"""The sub-pixel forms of the decoder convolutions compute what the originals compute."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tests.trainer.conftest import instance_norm_inputs
from trainer.cin_student import CinStudent, CinStudentServing
from trainer.serving_model import serving_model
from trainer.subpixel import (
    OnPhases,
    PhaseConv,
    SpaceToDepthConv,
    StrideTwoFromPhases,
    UpsampleConv,
    phase_conv_weight,
    space_to_depth_weight,
    stride_two_from_phases_weight,
    unfold_weight,
    upsample_conv_weight,
)
from trainer.thumb_norm import ContextInstanceNorm, ContextNormGenerator, StatsCollector

TOLERANCE = 1e-5


def _conv(in_ch: int, out_ch: int, kernel: int, seed: int) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(in_ch, out_ch, kernel, bias=False)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (24, 16)])
def test_upsampling_and_a_3x3_convolution_are_one_low_resolution_convolution(size):
    conv = _conv(8, 4, 3, seed=1)
    x = torch.randn(2, 8, *size)
    original = conv(F.pad(F.interpolate(x, scale_factor=2.0, mode="nearest"), (1, 1, 1, 1), mode="reflect"))
    with torch.no_grad():
        rewritten = UpsampleConv(conv)(x)
    assert rewritten.shape == (2, 4, 2 * size[0], 2 * size[1])
    assert torch.allclose(rewritten, original.detach(), atol=TOLERANCE)


@pytest.mark.parametrize("kernel, size", [(9, (12, 20)), (9, (64, 48)), (3, (6, 10)), (5, (10, 8))])
def test_a_full_resolution_convolution_runs_at_half_resolution(kernel, size):
    conv = _conv(4, 3, kernel, seed=2)
    x = torch.randn(1, 4, *size)
    original = conv(F.pad(x, (kernel // 2,) * 4, mode="reflect"))
    with torch.no_grad():
        rewritten = SpaceToDepthConv(conv)(x)
    assert rewritten.shape == original.shape
    assert torch.allclose(rewritten, original.detach(), atol=TOLERANCE)


@pytest.mark.parametrize("kernel, size", [(9, (12, 20)), (9, (64, 48)), (3, (6, 10))])
def test_a_full_resolution_convolution_comes_out_in_phase_form_from_one_strided_convolution(kernel, size):
    conv = _conv(3, 5, kernel, seed=7)
    x = torch.randn(2, 3, *size)
    original = F.pixel_unshuffle(conv(F.pad(x, (kernel // 2,) * 4, mode="reflect")), 2)
    with torch.no_grad():
        rewritten = PhaseConv(conv)(x)
    assert rewritten.shape == (2, 20, size[0] // 2, size[1] // 2)
    assert torch.allclose(rewritten, original.detach(), atol=TOLERANCE)


@pytest.mark.parametrize("size", [(4, 6), (32, 20), (2, 2)])
def test_a_stride_two_convolution_reads_its_input_from_the_phase_form(size):
    conv = nn.Conv2d(6, 5, 3, stride=2, bias=False)
    torch.manual_seed(8)
    nn.init.normal_(conv.weight)
    full = torch.randn(1, 6, *size)
    original = conv(F.pad(full, (1, 1, 1, 1), mode="reflect"))
    with torch.no_grad():
        rewritten = StrideTwoFromPhases(conv)(F.pixel_unshuffle(full, 2))
    assert rewritten.shape == original.shape == (1, 5, size[0] // 2, size[1] // 2)
    assert torch.allclose(rewritten, original.detach(), atol=TOLERANCE)


def test_a_per_channel_layer_on_the_phase_form_is_that_layer_at_full_resolution():
    norm = nn.InstanceNorm2d(3, affine=True)
    nn.init.normal_(norm.weight, 1.0, 0.3)
    nn.init.normal_(norm.bias, 0.0, 0.3)
    full = torch.randn(2, 3, 12, 8) * 3 + 1
    with torch.no_grad():
        assert torch.allclose(OnPhases(norm)(F.pixel_unshuffle(full, 2)), F.pixel_unshuffle(norm(full), 2),
                              atol=TOLERANCE)


@pytest.mark.parametrize("fold, shape", [(upsample_conv_weight, (4, 6, 3, 3)), (space_to_depth_weight, (3, 4, 9, 9)),
                                         (phase_conv_weight, (16, 3, 9, 9)),
                                         (stride_two_from_phases_weight, (8, 5, 3, 3))])
def test_every_weight_rewrite_can_be_undone(fold, shape):
    weight = torch.randn(*shape)
    assert torch.allclose(unfold_weight(fold, fold(weight), shape[-1]), weight, atol=1e-5)
    # A tensor of the right shape that no weight folds to (the zero taps filled in) is refused.
    noise = torch.randn_like(fold(weight))
    with pytest.raises(ValueError, match="not this rewrite's form"):
        unfold_weight(fold, noise, shape[-1])


def test_the_rewritten_kernels_hold_every_original_tap_exactly_once_per_phase():
    weight = torch.randn(3, 4, 9, 9)
    folded = space_to_depth_weight(weight).reshape(3, 2, 2, 4, 2, 2, 5, 5)
    # Each output phase (p, q) uses every one of the 81 taps once, spread over the input phases.
    per_phase = folded.abs().sum(dim=(3, 4, 5, 6, 7))
    assert torch.allclose(per_phase, weight.abs().sum(dim=(1, 2, 3))[:, None, None].expand(3, 2, 2))
    phases = upsample_conv_weight(weight[:, :, :3, :3]).reshape(3, 2, 2, 4, 3, 3)
    # Taps are summed, not dropped: every phase's kernel adds up to the original kernel's sum.
    assert torch.allclose(phases.sum(dim=(3, 4, 5)), weight[:, :, :3, :3].sum(dim=(1, 2, 3))[:, None, None]
                          .expand(3, 2, 2), atol=TOLERANCE)


@pytest.mark.parametrize("weight, message", [(torch.zeros(3, 4, 8, 8), "odd square"),
                                             (torch.zeros(3, 4, 9, 7), "odd square")])
def test_kernels_the_rewrite_cannot_take_are_refused(weight, message):
    with pytest.raises(ValueError, match=message):
        space_to_depth_weight(weight)
    with pytest.raises(ValueError, match="3x3"):
        upsample_conv_weight(weight)


def _student(seed: int = 0, n_blocks: int = 2) -> CinStudent:
    torch.manual_seed(seed)
    net = CinStudent(width=16, n_blocks=n_blocks, stem=8).eval()
    for module in net.modules():
        if isinstance(module, nn.InstanceNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.3)
            nn.init.normal_(module.bias, 0.0, 0.3)
    return net


def test_the_rewrites_carry_a_convolutions_bias_to_every_phase():
    torch.manual_seed(11)
    x = torch.randn(2, 4, 12, 16)
    convs = {"up": nn.Conv2d(4, 3, 3), "stem": nn.Conv2d(4, 3, 9), "down": nn.Conv2d(4, 5, 3, stride=2)}
    for conv in convs.values():
        nn.init.normal_(conv.bias, 0.0, 2.0)  # large, so that a dropped or misplaced bias shows
    with torch.no_grad():
        pairs = [(UpsampleConv(convs["up"])(x),
                  convs["up"](F.pad(F.interpolate(x, scale_factor=2.0, mode="nearest"), (1,) * 4, mode="reflect"))),
                 (PhaseConv(convs["stem"])(x), F.pixel_unshuffle(convs["stem"](F.pad(x, (4,) * 4, mode="reflect")), 2)),
                 (SpaceToDepthConv(convs["stem"])(x), convs["stem"](F.pad(x, (4,) * 4, mode="reflect"))),
                 (StrideTwoFromPhases(convs["down"])(F.pixel_unshuffle(x, 2)),
                  convs["down"](F.pad(x, (1,) * 4, mode="reflect")))]
    for rewritten, original in pairs:
        assert rewritten.shape == original.shape
        assert torch.allclose(rewritten, original, atol=TOLERANCE)


@pytest.mark.parametrize("size", [(64, 64), (96, 132)])
@pytest.mark.parametrize("contract_norm", [True, False])
def test_the_students_serving_form_paints_the_same_image(size, contract_norm):
    net = _student()
    if not contract_norm:  # the arbitrary-style transform's layout: biased contract convolutions, no norms
        torch.manual_seed(5)
        net = CinStudent(width=16, n_blocks=2, stem=8, mid=12, expand=(8, 6), contract_norm=False).eval()
        for layer in net.contract:
            nn.init.normal_(layer.conv.bias, 0.0, 0.5)
    x = torch.rand(2, 3, *size) * 2 - 1
    # Without norms in the contract, float32 rounding of the reordered sums is not scaled down: 2e-5 seen.
    with torch.no_grad():
        assert torch.allclose(net.serving_form()(x), net(x), atol=TOLERANCE if contract_norm else 5 * TOLERANCE)


def test_export_uses_the_serving_form_with_the_same_thumbnail_statistics():
    net = _student(seed=3)
    served = serving_model(net)
    assert isinstance(served.generator.net, CinStudentServing)
    image = torch.rand(1, 3, 128, 96) * 2 - 1
    with torch.no_grad():
        context = StatsCollector(net)(image)
        assert torch.allclose(served.context_for(image), context, atol=TOLERANCE)
        assert torch.allclose(served.generator(image, context), ContextNormGenerator(net)(image, context),
                              atol=TOLERANCE)
        # With the image's own statistics, the tile model is the instance-norm network itself.
        assert torch.allclose(served.generator(image, context), net(image), atol=TOLERANCE)


def test_a_uniform_photo_stays_exactly_uniform_through_the_context_norms():
    net = _student(seed=4)
    served = serving_model(net)
    grey = torch.full((1, 3, 64, 64), 0.2)
    with torch.no_grad():
        out = served.generator(grey, served.context_for(grey))
    # Every channel equals its thumbnail mean, so each norm gives its bias exactly: no amplified rounding.
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))


def _near_flat_photos() -> dict[str, torch.Tensor]:
    """A grey photo with one level of noise, and a white page with one dark dot ([-1, 1] units)."""
    level = 2 / 255
    noisy = 0.0 + level * torch.randint(-1, 2, (1, 3, 64, 64), generator=torch.Generator().manual_seed(5))
    page = torch.ones(1, 3, 64, 64)
    page[:, :, 30:33, 40:43] = -0.6
    return {"grey with one level of noise": noisy, "white page with a dot": page}


@pytest.mark.parametrize("name", list(_near_flat_photos()))
def test_a_nearly_flat_photo_is_painted_as_instance_norm_paints_it(name):
    """The flat-channel rule only takes channels that are constant up to rounding: faint structure
    is normalised to full strength, as the instance-norm network itself does."""
    net = _student(seed=6)
    served = serving_model(net)
    photo = _near_flat_photos()[name]
    with torch.no_grad():
        out = served.generator(photo, served.context_for(photo))
        assert torch.allclose(out, net(photo), atol=1e-3)
        assert out.std() > 0.01  # the structure is painted, not flattened to the biases


@pytest.mark.parametrize("given_statistics", [True, False])
def test_a_context_norm_followed_by_a_modulation_is_one_multiply_add_with_the_same_result(given_statistics):
    norm = ContextInstanceNorm(nn.InstanceNorm2d(4, affine=False))
    x = torch.randn(2, 4, 10, 6) * 2 + 3
    gamma, beta = torch.randn(2, 4, 1, 1), torch.randn(2, 4, 1, 1)
    if given_statistics:
        std = torch.sqrt(x.var(dim=(2, 3), unbiased=False, keepdim=True) + norm.eps)
        norm.stats = (x.mean(dim=(2, 3), keepdim=True), std)
    with torch.no_grad():
        assert torch.allclose(norm.modulated(x, gamma, beta), norm(x) * gamma + beta, atol=TOLERANCE)


@pytest.mark.parametrize("size", [(45, 67), (341, 512)])
def test_a_thumbnail_with_odd_sides_gives_the_statistics_the_network_sees(size):
    """Thumbnails are not padded (a 3:2 photo's is 512x341); the context model must take any size,
    although the tile model's phase forms need even sides."""
    net = _student(seed=9)
    served = serving_model(net)
    thumbnail = torch.rand(1, 3, *size) * 2 - 1
    with torch.no_grad():
        row = served.context_for(thumbnail)
    assert torch.allclose(row, instance_norm_inputs(net, thumbnail), atol=1e-4)
