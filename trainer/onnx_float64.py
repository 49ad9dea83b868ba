"""An int8 QDQ graph's own arithmetic, evaluated in float64: the reference a rewritten form of the graph is
measured against (scripts/graph_form_version.py --form integer; docs/serving.md, "An exact integer form").

An int8 network rounds on purpose only where it quantises (QuantizeLinear: x / scale rounded half to even,
plus the zero point, saturated). Everything between two quantisations (the dequantised convolutions, the
norms, the residual sums) is real arithmetic that a runtime approximates in fp32, in its own order. Each
runtime's fp32 rounding moves some values across a quantisation midpoint, and an int8 network carries the
moved level through every later layer, so two runtimes of one graph can be 36-52 dB apart on a foggy photo.
Evaluating the graph in float64 leaves those midpoints to the network's own values (float64 carries 29 more
bits than fp32) and so gives the network's arithmetic, to which both the source on ONNX Runtime and a
rewritten form can be compared.

`float64_graph` rewrites the graph: every float initializer, constant, input and output as float64; a
DequantizeLinear of an initializer folded into a float64 initializer ((q - zero point) x scale, exact); a
QuantizeLinear as Div, Round, Add, Clip, its levels held as float64 integers; a DequantizeLinear of an
activation as Sub, Mul. Between the two only steps that move levels (`_LEVEL_MOVES`) may stand. The
rewritten graph is run by onnx's reference evaluator (`onnx.reference.ReferenceEvaluator`; ONNX Runtime
has no float64 convolution on the CPU) with PyTorch's float64 convolution as its Conv (`_torch_conv`):
about 25 s for a 1024x640 picture of any-painting-best's network (the evaluator's own Conv took twice
that), within 4e-16 of a separate float64 evaluation written for the check.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16)
_INT_RANGES = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255)}
# Steps that only move or copy values, so that they act alike on int8 levels and on float64 ones.
_LEVEL_MOVES = {"Reshape", "Transpose", "Pad", "Identity", "Slice", "DepthToSpace", "SpaceToDepth",
                "Squeeze", "Unsqueeze", "Concat", "Flatten"}


class Float64FormError(ValueError):
    """The graph holds a step this float64 evaluation does not know: a per-channel quantisation of an
    activation, quantised levels read other than to dequantise or move them, a quantised type other
    than int8/uint8, or a Conv other than 2-D with explicit pads."""


def float64_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` (a QDQ graph with float32 inputs, outputs and float weights) with all its float arithmetic
    in float64 and its quantisations kept (see the module docstring). Its inputs and outputs become
    float64. Raises Float64FormError for a step it does not know."""
    graph = model.graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    quantiser_inputs = {name for node in graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")
                        and node.input[0] not in initializers for name in node.input[1:]}
    new_initializers: dict[str, np.ndarray] = {
        name: value.astype(np.float64) if value.dtype.kind == "f" or name in quantiser_inputs else value
        for name, value in initializers.items()}
    _check_levels_only_moved(graph, initializers)
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            new_initializers[node.output[0]] = _dequantised(node, initializers)
        elif node.op_type == "DequantizeLinear":
            nodes += _dequantise_nodes(node, initializers)
        elif node.op_type == "QuantizeLinear":
            nodes += _quantise_nodes(node, initializers)
        elif node.op_type == "Constant":
            nodes.append(_constant64(node))
        else:
            nodes.append(node)
    used = {name for node in nodes for name in node.input}
    tensors = [numpy_helper.from_array(np.asarray(value), name) for name, value in new_initializers.items()
               if name in used or name in {o.name for o in graph.output}]
    inputs = [_as_float64(value_info) for value_info in graph.input if value_info.name not in initializers]
    outputs = [_as_float64(value_info) for value_info in graph.output]
    rewritten = helper.make_graph(nodes, f"{graph.name}_float64", inputs, outputs, tensors)
    return helper.make_model(rewritten, opset_imports=list(model.opset_import), ir_version=model.ir_version)


def float64_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """`model`'s outputs (float64 arrays) on `feeds` (float arrays, cast to float64), evaluated as
    `float64_graph(model)` by onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(float64_graph(model), new_ops=[_torch_conv()])
    return evaluator.run(None, {name: np.asarray(value, np.float64) for name, value in feeds.items()})


def _dequantised(node: onnx.NodeProto, initializers: dict[str, np.ndarray]) -> np.ndarray:
    """A DequantizeLinear of constant levels, as float64 values: (q - zero point) x scale along its axis."""
    levels = initializers[node.input[0]].astype(np.float64)
    scale = initializers[node.input[1]].astype(np.float64)
    zero = initializers[node.input[2]].astype(np.float64) if len(node.input) > 2 and node.input[2] else 0.0
    if scale.ndim == 1 and levels.ndim > 1:
        axis = _axis(node) % levels.ndim
        shape = [1] * levels.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero = np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
    return (levels - zero) * scale


def _dequantise_nodes(node: onnx.NodeProto, initializers: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """A DequantizeLinear of an activation (levels held as float64 integers, see `_quantise_nodes`) as
    (levels - zero point) x scale, with a scalar scale and zero point."""
    _scalar(node, initializers)
    zero = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if zero is None:
        return [helper.make_node("Mul", [node.input[0], node.input[1]], [node.output[0]])]
    centred = node.output[0] + "/f64/centred"
    return [helper.make_node("Sub", [node.input[0], zero], [centred]),
            helper.make_node("Mul", [centred, node.input[1]], [node.output[0]])]


def _quantise_nodes(node: onnx.NodeProto, initializers: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """A QuantizeLinear as round-half-to-even(x / scale) + zero point, saturated to its type's range, its
    levels held as float64 integers (every int8 and uint8 level is one exactly), so that the steps moving
    them (Reshape, Transpose, Pad) and the DequantizeLinear after them need no casts."""
    _scalar(node, initializers)
    if len(node.input) < 3 or not node.input[2]:
        raise Float64FormError(f"{node.name or node.output[0]}: a QuantizeLinear without a zero point")
    zero_type = helper.np_dtype_to_tensor_dtype(initializers[node.input[2]].dtype)
    if zero_type not in _INT_RANGES:
        raise Float64FormError(f"{node.name or node.output[0]}: quantises to a type other than int8 or uint8")
    low, high = (numpy_helper.from_array(np.array(v, np.float64)) for v in _INT_RANGES[zero_type])
    name = node.output[0] + "/f64"
    return [
        helper.make_node("Constant", [], [f"{name}/low"], value=low),
        helper.make_node("Constant", [], [f"{name}/high"], value=high),
        helper.make_node("Div", [node.input[0], node.input[1]], [f"{name}/steps"]),
        helper.make_node("Round", [f"{name}/steps"], [f"{name}/rounded"]),
        helper.make_node("Add", [f"{name}/rounded", node.input[2]], [f"{name}/shifted"]),
        helper.make_node("Clip", [f"{name}/shifted", f"{name}/low", f"{name}/high"], [node.output[0]]),
    ]


def _check_levels_only_moved(graph: onnx.GraphProto, initializers: dict[str, np.ndarray]) -> None:
    """Raises Float64FormError where a quantised activation reaches a step other than a DequantizeLinear
    or a move of its values (`_LEVEL_MOVES`), which would read float64 levels as int8 ones."""
    levels = {node.output[0] for node in graph.node if node.op_type == "QuantizeLinear"}
    for node in graph.node:
        if node.op_type in _LEVEL_MOVES and node.input and node.input[0] in levels:
            levels.update(node.output)
            continue
        if node.op_type == "DequantizeLinear":
            continue
        touched = [name for name in node.input if name in levels]
        if touched:
            raise Float64FormError(f"{node.name or node.output[0]}: a {node.op_type} reads quantised levels "
                                   f"({touched[0]}) other than to dequantise or move them")


def _scalar(node: onnx.NodeProto, initializers: dict[str, np.ndarray]) -> None:
    """Raises Float64FormError unless `node`'s scale and zero point are constants of one value each."""
    for name in node.input[1:]:
        if name and (name not in initializers or initializers[name].size != 1):
            raise Float64FormError(f"{node.name or node.output[0]}: a {node.op_type} of an activation with a "
                                   "scale or zero point that is not one constant value")


def _axis(node: onnx.NodeProto) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)


def _constant64(node: onnx.NodeProto) -> onnx.NodeProto:
    """A Constant node, its float tensor as float64."""
    value = next((a for a in node.attribute if a.name == "value"), None)
    if value is None or value.t.data_type not in _FLOAT_TYPES:
        return node
    array = numpy_helper.to_array(value.t).astype(np.float64)
    return helper.make_node("Constant", [], list(node.output), value=numpy_helper.from_array(array, value.t.name))


def _as_float64(value_info: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    """`value_info` with a float element type made float64 (its shape kept)."""
    tensor = value_info.type.tensor_type
    if tensor.elem_type not in _FLOAT_TYPES:
        return value_info
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value_info)
    copy.type.tensor_type.elem_type = TensorProto.DOUBLE
    return copy


def _torch_conv() -> type:
    """The reference evaluator's Conv (NCHW, 2-D, explicit pads) computed by torch.nn.functional.conv2d in
    the input's dtype."""
    import torch
    from onnx.reference.op_run import OpRun

    class Conv(OpRun):
        op_domain = ""

        def _run(self, x, w, b=None, auto_pad=None, dilations=None, group=None, kernel_shape=None, pads=None,
                 strides=None):
            if x.ndim != 4 or auto_pad not in (None, "NOTSET", b"NOTSET"):
                raise Float64FormError("Conv: only 2-D convolutions with explicit pads are evaluated")
            top, left, bottom, right = pads or (0, 0, 0, 0)
            x = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])
            out = torch.nn.functional.conv2d(torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(w),
                                             None if b is None else torch.tensor(b),
                                             stride=tuple(strides or (1, 1)), dilation=tuple(dilations or (1, 1)),
                                             groups=group or 1)
            return (out.numpy(),)

    return Conv
