"""TensorRT plan builder: pure geometry here; the build itself only where TensorRT and a GPU exist."""

import importlib.util

import pytest
import torch

from trainer import tensorrt_build
from trainer.onnx_export import export_generator
from trainer.tensorrt_build import Profile, TensorRTUnavailable, plan_file_name


def _gpu_reason() -> str | None:
    """Why the real build cannot run here, or None where it can."""
    try:
        tensorrt_build.check_available()
    except TensorRTUnavailable as exc:
        return str(exc)
    return None


def test_profile_spans_the_servers_tiles_plus_halo_aligned_to_the_stride():
    tiles = Profile.for_tiles(halo=30, size_multiple=4)
    # From the narrowest edge tile (one stride) to a 1024 px core with its halo.
    assert (tiles.min_side, tiles.opt_side, tiles.max_side) == (4, 572, 1084)
    assert (tiles.opt_batch, tiles.max_batch) == (4, 8)


def test_plan_names_carry_gpu_architecture_and_tensorrt_major_version():
    assert plan_file_name((8, 6), "10.3.0") == "model.sm86.trt10.plan"
    assert plan_file_name((12, 0), "10.13.2.6") == "model.sm120.trt10.plan"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_without_tensorrt_the_error_says_so_plainly():
    with pytest.raises(TensorRTUnavailable, match=r"TensorRT not available here \(no GPU / tensorrt not installed\)"):
        tensorrt_build.check_available()


@pytest.mark.gpu
@pytest.mark.skipif(_gpu_reason() is not None, reason=f"needs TensorRT and a CUDA GPU: {_gpu_reason()}")
def test_builds_a_plan_for_a_tiny_generator_with_context(tmp_path):
    class WithContext(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, image, context):
            return torch.tanh(self.conv(image) + context[:, :3, None, None])

    onnx_path = tmp_path / "model.onnx"
    export_generator(WithContext().eval(), onnx_path, torch.rand(1, 3, 64, 64), torch.rand(1, 6))
    path, entry = tensorrt_build.build_plan(onnx_path, tmp_path, halo=4, size_multiple=1, context_dim=6)
    assert path.is_file() and path.stat().st_size > 0
    assert entry["file"] == path.name and entry["precision"] in ("fp16", "fp32")
    assert entry["compute_capability"].count(".") == 1 and entry["tensorrt_version"].startswith("10")
