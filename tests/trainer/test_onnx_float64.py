"""trainer/onnx_float64.py: an int8 QDQ graph evaluated in float64 rounds only where the graph quantises,
half to even and saturated, and refuses graphs it would read wrongly."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from inference_server.version_checks import signed_psnr
from scripts.local_stack import ROOT
from tessera.onnx_session import session_options
from trainer.onnx_float64 import Float64FormError, float64_graph, float64_outputs

SCALE, ZERO = 0.5, -3  # the activations' quantisation: level = round(x / 0.5) - 3


def _qdq_graph(per_channel_activation: bool = False, read_levels_with: str | None = None) -> onnx.ModelProto:
    """x [1, 2, 4, 4] -> Q -> Transpose-free DQ -> 1x1 Conv (int8 weights, per-channel scales) -> Q -> DQ -> y."""
    weights = np.array([[[[3]], [[-2]]], [[[1]], [[5]]]], np.int8)
    scale = np.array([SCALE, SCALE], np.float32) if per_channel_activation else np.array(SCALE, np.float32)
    zero = np.array([ZERO, ZERO], np.int8) if per_channel_activation else np.array(ZERO, np.int8)
    initializers = [numpy_helper.from_array(v, n) for v, n in (
        (scale, "s"), (zero, "z"), (weights, "w"), (np.array([0.25, 0.125], np.float32), "ws"),
        (np.array([0, 0], np.int8), "wz"), (np.array(1.0, np.float32), "s2"), (np.array(0, np.int8), "z2"))]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0),
             helper.make_node("Conv", ["xf", "wf"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "s2", "z2"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "s2", "z2"], ["y"])]
    if read_levels_with:
        nodes.append(helper.make_node(read_levels_with, ["xq", "xq"], ["bad"]))
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _expected(x: np.ndarray) -> np.ndarray:
    """The graph's arithmetic by hand, in float64."""
    levels = np.clip(np.rint(x.astype(np.float64) / SCALE) + ZERO, -128, 127)
    values = (levels - ZERO) * SCALE
    w = np.array([[3, -2], [1, 5]], np.float64) * np.array([[0.25], [0.125]])
    conv = np.einsum("oc,nchw->nohw", w, values)
    return np.clip(np.rint(conv), -128, 127)


def test_quantisation_rounds_half_to_even_and_saturates():
    x = np.zeros((1, 2, 4, 4), np.float32)
    x.flat[:6] = [1.25, 1.75, -1.25, 0.75, 200.0, -200.0]  # x / 0.5 = 2.5, 3.5, -2.5, 1.5, and far out of range
    (y,) = float64_outputs(_qdq_graph(), {"x": x})
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, _expected(x))
    levels = np.clip(np.rint(x.ravel()[:6] / SCALE) + ZERO, -128, 127)
    assert list(levels) == [-1, 1, -5, -1, 127, -128]  # half to even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 1.5 -> 2


def test_random_values_match_the_arithmetic_by_hand():
    x = np.random.default_rng(0).uniform(-40, 40, (1, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(float64_outputs(_qdq_graph(), {"x": x})[0], _expected(x))


def test_the_rewritten_graph_is_float64_throughout():
    graph = float64_graph(_qdq_graph()).graph
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    assert {t.data_type for t in graph.initializer} == {TensorProto.DOUBLE}
    assert not [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def test_a_per_channel_quantisation_of_an_activation_is_refused():
    with pytest.raises(Float64FormError, match="not one constant value"):
        float64_graph(_qdq_graph(per_channel_activation=True))


def test_levels_read_other_than_to_dequantise_or_move_them_are_refused():
    with pytest.raises(Float64FormError, match="a Mul reads quantised levels"):
        float64_graph(_qdq_graph(read_levels_with="Mul"))


@pytest.mark.timeout(120)
def test_the_shipped_int8_network_in_float64_is_the_network_onnx_runtime_runs():
    """any-painting-best v3 on a small photo: float64 and ONNX Runtime fp32 paint the same picture (their
    only differences are fp32's roundings carried through the int8 layers)."""
    from skimage import data

    from tessera.imageio import statistics_thumbnail
    from tessera.pixels import rgb8_to_nchw

    style = ROOT / "model_registry" / "any-painting-best"
    photo = np.ascontiguousarray(data.astronaut()[100:196, 150:278])
    image = rgb8_to_nchw(photo)
    code = np.asarray(json.loads((style / "4" / "manifest.json").read_text())["presets"][0]["code"], np.float32)
    context_model = ort.InferenceSession(str(style / "4" / "context.onnx"), session_options(2))
    context = context_model.run(None, {"thumbnail": rgb8_to_nchw(statistics_thumbnail(photo, 512)),
                                       "style_code": code[None]})[0].astype(np.float32)
    model = onnx.load(str(style / "3" / "model.onnx"))
    exact = float64_outputs(model, {"image": image, "context": context})[0]
    session = ort.InferenceSession(str(style / "3" / "model.onnx"), session_options(2))
    ours = session.run(None, {"image": image, "context": context})[0]
    assert exact.shape == ours.shape
    assert signed_psnr(ours, exact.astype(np.float32)) > 30
