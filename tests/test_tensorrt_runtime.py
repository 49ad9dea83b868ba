"""Runtime selection, and the TensorRT runtime where a GPU exists.

These machines have no GPU: there the TensorRT test skips and only the fallback is exercised.
"""

import numpy as np
import pytest

from inference_server.runtime import select_runtime
from inference_server.runtime.tensorrt_runtime import gpu_compute_capability
from tessera.registry import read_manifest, write_version
from tests.support.tiny_model import TinyGenerator, export_onnx, tiny_manifest

NO_GPU = "TensorRT and a CUDA GPU are not available on this machine"


def _version_with_plan(tmp_path, plan_bytes: bytes, capability: str, trt_version: str):
    export_onnx(TinyGenerator(), tmp_path / "model.onnx")
    (tmp_path / "model.plan").write_bytes(plan_bytes)
    manifest = tiny_manifest()
    manifest["artifacts"]["tensorrt"] = [{"file": "model.plan", "compute_capability": capability,
                                          "tensorrt_version": trt_version, "precision": "fp16",
                                          "min_tile": 2, "max_tile": 1024, "max_batch": 8}]
    root = tmp_path / "registry"
    number = write_version(root, "trt", {"model.onnx": tmp_path / "model.onnx", "model.plan": tmp_path / "model.plan"},
                           manifest)
    return root / "trt" / str(number)


def test_a_plan_for_no_usable_gpu_falls_back_to_onnx_runtime(tmp_path):
    version_dir = _version_with_plan(tmp_path, b"not a real plan", "0.0", "10.0.0")
    runtime = select_runtime(version_dir, read_manifest(version_dir), threads=1, max_batch=4)
    assert runtime.name == "onnxruntime-cpu"
    assert runtime.execute(np.zeros((1, 3, 16, 16), dtype=np.float32)).shape == (1, 3, 16, 16)


@pytest.mark.gpu
@pytest.mark.skipif(gpu_compute_capability() is None, reason=NO_GPU)
def test_tensorrt_plan_matches_onnx_runtime(tmp_path):
    import tensorrt

    from inference_server.runtime.onnx_runtime import OnnxRuntime
    from trainer.tensorrt_build import build_plan

    export_onnx(TinyGenerator(), tmp_path / "model.onnx")
    plan, _ = build_plan(tmp_path / "model.onnx", tmp_path, halo=16, size_multiple=2)
    version_dir = _version_with_plan(tmp_path, plan.read_bytes(), gpu_compute_capability(), tensorrt.__version__)
    runtime = select_runtime(version_dir, read_manifest(version_dir), threads=1, max_batch=4)
    assert runtime.name == "tensorrt"
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 3, 96, 96)).astype(np.float32)
    expected = OnnxRuntime(version_dir / "model.onnx").execute(x)
    assert np.abs(runtime.execute(x) - expected).max() < 2e-2  # FP16 inside the engine
    runtime.finalize()
