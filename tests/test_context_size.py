"""Runtime.context_size: the width K of a generator's [N, K] context input, read from the input the
runtime feeds contexts to. K is what the context model computes, so a model that leaves it dynamic is
broken: the I/O rule rejects it, and a runtime asked for its K says so instead of handing back a name."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from inference_server.runtime import EngineError
from inference_server.runtime.onnx_runtime import OnnxRuntime
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME, generator_io_problem


def _generator(path, contexts: dict[str, int | str]) -> None:
    """image plus 0 x the sum of each [N, K] context input (K an int, or a name for a dynamic width)."""
    image = ["n", 3, "h", "w"]
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, image)]
    nodes, total = [], INPUT_NAME
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    for name, width in contexts.items():
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", width]))
        nodes += [helper.make_node("ReduceSum", [name], [f"{name}_sum"], keepdims=0),
                  helper.make_node("Mul", [f"{name}_sum", "zero"], [f"{name}_nothing"]),
                  helper.make_node("Add", [total, f"{name}_nothing"], [f"{name}_added"])]
        total = f"{name}_added"
    nodes.append(helper.make_node("Identity", [total], [OUTPUT_NAME]))
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, image)]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=[zero])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_the_width_is_read_from_the_context_input_the_runtime_feeds(tmp_path):
    _generator(tmp_path / "model.onnx", {CONTEXT_INPUT: 5, "style_code": 7})
    assert OnnxRuntime(tmp_path / "model.onnx", threads=1).context_size() == 5
    assert OnnxRuntime(tmp_path / "model.onnx", threads=1, context_input="style_code").context_size() == 7


def test_a_model_without_a_context_input_has_no_width(tmp_path):
    _generator(tmp_path / "model.onnx", {})
    assert OnnxRuntime(tmp_path / "model.onnx", threads=1).context_size() is None


def test_a_dynamic_width_is_an_engine_error_not_a_dimension_name(tmp_path):
    _generator(tmp_path / "model.onnx", {CONTEXT_INPUT: "k"})
    with pytest.raises(EngineError, match="the context input 'context' has width 'k'; the model must fix K"):
        OnnxRuntime(tmp_path / "model.onnx", threads=1).context_size()


def test_a_dynamic_width_is_an_engine_error_on_openvino_too(tmp_path):
    pytest.importorskip("openvino")
    from inference_server.runtime.openvino_runtime import OpenVinoRuntime

    _generator(tmp_path / "model.onnx", {CONTEXT_INPUT: "k"})
    with pytest.raises(EngineError, match="the context input 'context' has width"):
        OpenVinoRuntime(tmp_path / "model.onnx").context_size()


@pytest.mark.parametrize(("width", "problem"), [
    (574, None),
    ("k", "its width K must be a fixed number"),
    (None, "its width K must be a fixed number"),
])
def test_the_io_rule_rejects_a_generator_whose_context_width_is_not_fixed(width, problem):
    """The rule the server applies as it loads a version (and the trainer as it exports one)."""
    image = ("tensor(float)", ["n", 3, "h", "w"])
    inputs = {INPUT_NAME: image, CONTEXT_INPUT: ("tensor(float)", ["n", width])}
    found = generator_io_problem(inputs, {OUTPUT_NAME: image}, with_context=True)
    assert found is None if problem is None else problem in found
