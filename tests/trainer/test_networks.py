"""Generators and discriminator: CycleGAN-project key names, the compact generator's budget and tiling."""

import pytest
import torch
from torch import nn

from trainer.halo import measure_halo
from trainer.networks import count_gflops, define_D, define_G, get_scheduler, image_context


@pytest.mark.parametrize("arch, norm, keys", [
    # Key names as in pytorch-CycleGAN-and-pix2pix's latest_net_G.pth files.
    ("resnet_9blocks", "instance", ["model.1.weight", "model.1.bias", "model.10.conv_block.1.weight",
                                    "model.18.conv_block.5.bias", "model.19.weight", "model.26.bias"]),
    ("resnet_6blocks", "batch", ["model.1.weight", "model.2.running_mean", "model.15.conv_block.6.weight",
                                 "model.23.bias"]),
    ("unet_256", "batch", ["model.model.0.weight", "model.model.1.model.2.running_var",
                           "model.model.1" + ".model.3" * 6 + ".model.1.weight", "model.model.3.bias"]),
])
def test_generators_use_the_cyclegan_projects_parameter_names(arch, norm, keys):
    state = define_G(arch, ngf=8, norm=norm).state_dict()
    assert set(keys) <= set(state)
    if norm == "instance":
        assert not any("running" in k for k in state)  # affine=False, no running statistics


def test_patchgan_maps_a_pair_to_a_grid_of_logits():
    d = define_D(input_nc=6, ndf=8)
    assert [k for k in d.state_dict() if k.endswith("weight")][:2] == ["model.0.weight", "model.2.weight"]
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("arch, size", [("unet_128", 128), ("resnet_6blocks", 36), ("compact", 36)])
def test_generators_keep_the_image_size_and_range(arch, size):
    g = define_G(arch, ngf=8, norm="instance", seed=0)
    out = g(torch.rand(2, 3, size, size) * 2 - 1)
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1


def test_initialisation_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = define_G("compact", seed=7), define_G("compact", seed=7)
    assert torch.rand(1) == before
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_flop_counter_counts_two_flops_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_gflops(conv, size=16) == pytest.approx(2 * 16 * 16 * 8 * 3 * 9 / 1e9)


def test_compact_generator_fits_the_cpu_serving_budget():
    g = define_G("compact", context_dim=6)
    assert 1.0 < count_gflops(g, 256) <= 2.0
    assert sum(p.numel() for p in g.parameters()) * 4 < 2e6  # bytes of float32 weights
    assert g.size_multiple == 4


@pytest.mark.parametrize("upsample, halo", [("shuffle", 32), ("resize", 36)])
def test_compact_generator_halo_stays_small(upsample, halo):
    g = define_G("compact", ngf=4, context_dim=6, upsample=upsample, seed=0)
    assert measure_halo(lambda x: g(x, torch.zeros(len(x), 6))) <= halo


@pytest.mark.parametrize("upsample, padding", [("shuffle", "zeros"), ("resize", "zeros"), ("resize", "replicate")])
def test_compact_generator_tiles_without_seams_given_the_image_context(upsample, padding):
    g = define_G("compact", ngf=8, context_dim=6, upsample=upsample, padding=padding, seed=0).eval()
    torch.nn.init.normal_(g.film.mlp[2].weight, std=0.5)  # make the context matter
    image = torch.rand(1, 3, 160, 160) * 2 - 1
    context = image_context(image)
    with torch.no_grad():
        whole = g(image, context)
        tile = g(image[:, :, 32:128, 32:128], context)  # a 96 px tile at a multiple of the stride
        other = g(image, context * 0.5)
    # The tile's core, 36 px (at least the halo) in from each edge, equals the whole image's pixels.
    torch.testing.assert_close(tile[:, :, 36:60, 36:60], whole[:, :, 68:92, 68:92], atol=1e-5, rtol=0)
    assert not torch.allclose(other, whole, atol=1e-3)


def test_replicate_padding_leaves_no_lines_along_the_borders():
    """A uniform image stays uniform with replicate padding; zero padding makes the borders differ."""
    flat = torch.full((1, 3, 64, 64), 0.3)
    with torch.no_grad():
        spread = {p: define_G("compact", padding=p, seed=0).eval()(flat).std(dim=(2, 3)).max().item()
                  for p in ("zeros", "replicate")}
    assert spread["replicate"] < 1e-6 < 1e-3 < spread["zeros"]


def test_padding_belongs_to_the_compact_generator_only():
    with pytest.raises(ValueError, match="padding"):
        define_G("resnet_6blocks", padding="replicate")
    with pytest.raises(ValueError, match="padding must be one of zeros, replicate"):
        define_G("compact", padding="edge")


def test_image_context_is_per_channel_mean_then_std():
    image = torch.stack([torch.full((4, 4), 0.5), torch.tensor([[-1.0, 1.0] * 2] * 4), torch.zeros(4, 4)])[None]
    assert image_context(image).tolist() == [[0.5, 0.0, 0.0, 0.0, 1.0, 0.0]]


def test_linear_decay_keeps_the_rate_then_falls_towards_zero():
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_scheduler(opt, total_steps=10, decay_start=5)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[:6] == [1.0] * 6 and rates[6] < 1.0 and 0 < rates[-1] < rates[6]


def test_projected_discriminator_judges_three_feature_scales_and_trains_only_its_heads():
    d = define_D(input_nc=3, ndf=8, arch="projected", seed=0)
    images = (torch.rand(2, 3, 128, 128) * 2 - 1).requires_grad_(True)
    logits = d(images)
    assert [tuple(x.shape) for x in logits] == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 4, 4)]
    # The frozen EfficientNet trunk is neither trained nor saved: only the heads are parameters.
    assert all(name.startswith("heads.") for name, _ in d.named_parameters())
    assert all(key.startswith("heads.") for key in d.state_dict())
    sum(x.mean() for x in logits).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # the generator gets a signal
    assert all(p.grad is None for p in d._trunk[0].parameters())


def test_projected_discriminator_refuses_image_pairs():
    with pytest.raises(ValueError, match="RGB images"):
        define_D(input_nc=6, arch="projected")
    with pytest.raises(ValueError, match="unknown discriminator"):
        define_D(input_nc=3, arch="stylegan")
