"""ONNX Runtime gives the PyTorch output of the same generator, within 1e-4."""

import numpy as np
import pytest
import torch

from inference_server.runtime.onnx_runtime import OnnxRuntime
from tests.support.tiny_model import TinyGenerator, export_onnx


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 48, 80), (1, 3, 6, 10)])
def test_onnx_runtime_matches_pytorch(tmp_path, shape):
    model = TinyGenerator(seed=3)
    export_onnx(model, tmp_path / "model.onnx")
    x = np.random.default_rng(1).uniform(-1, 1, size=shape).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    actual = OnnxRuntime(tmp_path / "model.onnx", threads=1).execute(x)
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= 1e-4


def test_tiny_model_halo_covers_its_receptive_field():
    from tests.support.tiny_model import TINY_HALO

    model = TinyGenerator().eval()
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    model(x)[0, :, 32, 32].sum().backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1))).T
    radius = int(max(32 - rows.min(), rows.max() - 32, 32 - cols.min(), cols.max() - 32))
    assert radius <= TINY_HALO
