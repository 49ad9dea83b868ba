"""Splitting a generator after its stem (inference_server/runtime/stem_split.py): the two halves run one
after the other give the whole model's output, and models it cannot split are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference_server.runtime import EngineError
from inference_server.runtime.stem_split import split_after_stem
from scripts.local_stack import ROOT
from tessera.onnx_session import open_session

pytestmark = pytest.mark.timeout(120)


def _model(tmp_path: Path, nodes: list, name: str = "model.onnx") -> Path:
    """A model of `nodes` from `image` to `stylized`; "weight" is a 1x1 convolution's [3, 3, 1, 1] kernel."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])
    stylized = helper.make_tensor_value_info("stylized", TensorProto.FLOAT, ["n", 3, "h", "w"])
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [3, 3, 1, 1], np.eye(3, dtype=np.float32).ravel())
    graph = helper.make_graph(nodes, "g", [image], [stylized], initializer=[weight])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_the_head_then_the_tail_give_the_whole_students_output():
    version_dir = ROOT / "model_registry" / "umber-oil" / "10"
    split = split_after_stem(version_dir / "model.onnx")
    whole, head, tail = (open_session(m, 1) for m in (version_dir / "model.onnx", split.head, split.tail))
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    context = rng.uniform(0.5, 1.5, (1, whole.get_inputs()[1].shape[1])).astype(np.float32)
    assert split.cuts == ("/net/Relu_output_0",)  # a generator's stem hands on its ReLU's output alone
    cut = head.run(list(split.cuts), {"image": image, "context": context})[0]
    assert cut.shape[1] == 64  # the phase-form stem's 16x4 channels
    np.testing.assert_allclose(tail.run(None, {split.cuts[0]: cut, "context": context})[0],
                               whole.run(None, {"image": image, "context": context})[0], atol=1e-5)


@pytest.mark.parametrize("version", ["teacher-26/3", "umber-oil/11"])
def test_a_context_model_splits_too_and_its_stem_hands_on_its_first_statistics(version):
    """A context model's output gathers every norm's statistics; the stem's own (its first norm's) are
    handed on beside the ReLU's output, and the two halves give the whole model's context."""
    path = ROOT / "model_registry" / version / "context.onnx"
    split = split_after_stem(path, "context")
    whole, head, tail = (open_session(m, 1) for m in (path, split.head, split.tail))
    assert len(split.cuts) > 1 and "Relu" in split.cuts[0]
    assert split.convolutions == split_after_stem(path.parent / "model.onnx").convolutions == 1
    feeds = {"thumbnail": np.random.default_rng(1).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)}
    if "style_code" in {i.name for i in whole.get_inputs()}:  # teacher-26 is style-conditioned
        feeds["style_code"] = np.eye(1, whole.get_inputs()[1].shape[1], 3, dtype=np.float32)
    cuts = dict(zip(split.cuts, head.run(list(split.cuts), feeds), strict=True))
    rest = {i.name: ({**feeds, **cuts})[i.name] for i in tail.get_inputs()}
    assert "thumbnail" not in rest
    np.testing.assert_allclose(tail.run(None, rest)[0], whole.run(None, feeds)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["model.onnx", "context.onnx"])
def test_a_centred_stem_splits_before_its_convolution(model):
    """keep="input": the head only prepares the picture (scaling, padding, the mean colour taken off), so
    it hands on 3 channels, and a context model also its mean colour, which its output carries."""
    path = ROOT / "model_registry" / "teacher-26" / "4" / model
    output = "stylized" if model == "model.onnx" else "context"
    split = split_after_stem(path, output, keep="input")
    whole, head, tail = (open_session(m, 1) for m in (path, split.head, split.tail))
    rng = np.random.default_rng(2)
    picture = "image" if output == "stylized" else "thumbnail"
    feeds = {picture: rng.uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)}
    for port in whole.get_inputs():
        if port.name != picture:
            feeds[port.name] = np.eye(1, port.shape[1], 3, dtype=np.float32)
    assert split.cuts[0] == "centre/centred" and ("centre/colour" in split.cuts) == (output == "context")
    assert sum(n.op_type == "Conv" for n in onnx.load_from_string(split.head).graph.node) == 0
    cuts = dict(zip(split.cuts, head.run(list(split.cuts), feeds), strict=True))
    assert cuts["centre/centred"].shape[1] == 3
    rest = {i.name: ({**feeds, **cuts})[i.name] for i in tail.get_inputs()}
    np.testing.assert_allclose(tail.run(None, rest)[0], whole.run(None, feeds)[0], rtol=1e-4, atol=1e-4)


def _normed(source: str, name: str) -> list:
    """An instance norm's mean subtraction of `source` into `name` (statistics from a ReduceMean)."""
    return [helper.make_node("ReduceMean", [source], [f"{name}_mean"], axes=[2, 3], keepdims=1),
            helper.make_node("Sub", [source, f"{name}_mean"], [name])]


def test_a_model_without_a_relu_has_no_stem_to_split(tmp_path):
    path = _model(tmp_path, [helper.make_node("Tanh", ["image"], ["stylized"])])
    with pytest.raises(EngineError, match="has no ReLU"):
        split_after_stem(path)


def test_a_network_without_norms_is_cut_at_its_first_relu(tmp_path):
    """Nothing divides by the picture's spread, so the stem is the first layer (Wesnoth Painting's case)."""
    path = _model(tmp_path, [helper.make_node("Conv", ["image", "weight"], ["conv0"]),
                             helper.make_node("Relu", ["conv0"], ["relu0"]),
                             helper.make_node("Conv", ["relu0", "weight"], ["conv1"]),
                             helper.make_node("Relu", ["conv1"], ["stylized"])])
    assert split_after_stem(path).cuts == ("relu0",)


def test_a_relu_before_any_convolution_is_no_stem(tmp_path):
    path = _model(tmp_path, [helper.make_node("Relu", ["image"], ["relu"]),
                             helper.make_node("Conv", ["relu", "weight"], ["stylized"])])
    with pytest.raises(EngineError, match="follows 0 convolutions"):
        split_after_stem(path)


def test_a_model_whose_later_layers_read_the_picture_again_cannot_be_split(tmp_path):
    """A skip connection from the input past the stem: the tail would see the picture rounded to bf16."""
    path = _model(tmp_path, [helper.make_node("Conv", ["image", "weight"], ["conv"]), *_normed("conv", "normed"),
                             helper.make_node("Relu", ["normed"], ["stem"]),
                             helper.make_node("Add", ["stem", "image"], ["stylized"])])
    with pytest.raises(EngineError, match="read the picture again"):
        split_after_stem(path)


def test_layers_without_a_norm_before_the_first_norm_belong_to_the_stem(tmp_path):
    """any-painting's shape: a convolution and a ReLU, then one with a norm. The first ReLU's output still
    carries the picture's offset, so the stem ends at the second; a centred stem's input form needs
    the one convolution it centres."""
    path = _model(tmp_path, [helper.make_node("Conv", ["image", "weight"], ["conv0"]),
                             helper.make_node("Relu", ["conv0"], ["relu0"]),
                             helper.make_node("Conv", ["relu0", "weight"], ["conv1"]), *_normed("conv1", "normed"),
                             helper.make_node("Relu", ["normed"], ["stylized"])])
    assert split_after_stem(path).cuts == ("stylized",)
    with pytest.raises(EngineError, match="follows 2 convolutions, not the one of a centred stem"):
        split_after_stem(path, keep="input")


def test_an_unreadable_file_is_an_engine_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not an onnx model")
    with pytest.raises(EngineError, match="cannot read model.onnx"):
        split_after_stem(path)
