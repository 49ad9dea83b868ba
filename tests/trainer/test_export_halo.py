"""Receptive-field halo and size multiple, measured on tiny nets whose answers are known."""

import numpy as np
import pytest
from torch import nn

from trainer.halo import measure_halo, measure_size_multiple
from trainer.onnx_export import ExportError
from trainer.publish import check_tiling, export_onnx
from trainer.serving_model import ServingModel


def _convs(n, kernel=3, dilation=1):
    pad = dilation * (kernel // 2)
    layers = [nn.Conv2d(3, 3, kernel, padding=pad, dilation=dilation) for _ in range(n)]
    return nn.Sequential(*[m for conv in layers for m in (conv, nn.ReLU())]).eval()


def _strided():
    """Down by 2 (radius 1 at stride 1), a 3x3 at stride 2, then up by 2."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
    ).eval()


def test_three_3x3_convs_have_radius_3():
    assert measure_halo(_convs(3)) == 3


def test_dilated_5x5_convs_have_radius_of_the_sum():
    assert measure_halo(_convs(2, kernel=5, dilation=2)) == 8


def test_size_multiple_is_the_total_stride():
    assert measure_size_multiple(_convs(2)) == 1
    assert measure_size_multiple(_strided()) == 2


def test_strided_halo_covers_every_phase_and_is_a_multiple_of_the_stride():
    halo = measure_halo(_strided(), multiple=2)
    assert halo % 2 == 0
    # Receptive field radius of this net: at most 1 + 2*1 + 1 pixels for any output phase.
    assert 4 <= halo <= 6


def test_instance_norm_has_an_image_wide_receptive_field():
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.InstanceNorm2d(3)).eval()
    assert measure_halo(net, start_side=32, max_side=64) is None


def test_export_refuses_a_halo_smaller_than_the_receptive_field(tmp_path):
    """The last guard before writing: tiles cut with too small a halo show seams, and export stops."""
    model = ServingModel(_convs(3))
    export_onnx(model, tmp_path, multiple=1)
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tiling = {"size_multiple": 1, "thumbnail_size": 256}
    assert check_tiling(tmp_path, {**tiling, "halo": 3}, photo, has_context=False)["tiled_vs_whole_psnr_db"] >= 50
    with pytest.raises(ExportError, match="tiled output differs from whole-image output"):
        check_tiling(tmp_path, {**tiling, "halo": 1}, photo, has_context=False)


class _SizeDependentSlice(nn.Module):
    """Pads, then slices back with ends that depend on the input size: ONNX shape inference then
    no longer knows the output has 3 channels, which the server requires."""

    def forward(self, x):
        padded = nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
        return padded[:, :, 1:x.shape[2] + 1, 1:x.shape[3] + 1]


def test_export_refuses_a_model_the_server_would_reject(tmp_path):
    with pytest.raises(ExportError, match=r"breaks the serving convention: 'stylized' is .*expected float32 \[N, 3"):
        export_onnx(ServingModel(_SizeDependentSlice()), tmp_path, multiple=1)
    export_onnx(ServingModel(_convs(1)), tmp_path, multiple=1)  # static channels: accepted
