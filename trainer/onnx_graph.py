"""Reading an ONNX graph for the rewrites that work on exported files (trainer/cin_surgery.py,
trainer/onnx_subpixel.py): who consumes a tensor, what depends on it, and a constant's value."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


class NotConstantError(ValueError):
    """A tensor the rewrite needs as a constant is computed at run time."""


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """{tensor name: the nodes that read it, in graph order}."""
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """{tensor name: the node that writes it} (graph inputs and initializers have none)."""
    return {name: node for node in graph.node for name in node.output}


def descendants(graph: onnx.GraphProto, tensor: str) -> set[str]:
    """Every tensor computed from `tensor`, and `tensor` itself (the graph's nodes are in topological order)."""
    reached = {tensor}
    for node in graph.node:
        if set(node.input) & reached:
            reached.update(node.output)
    return reached


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    """A node's attributes as Python values (bytes for strings, as ONNX stores them)."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def constant_value(graph: onnx.GraphProto, name: str) -> np.ndarray:
    """The value of a constant tensor: an initializer, a Constant node's, or a DequantizeLinear of
    constants ((x - zero point) * scale in float32, per axis when the scale is a vector, as ONNX
    defines it). Raises NotConstantError for a tensor computed from the graph's inputs."""
    inits = {i.name: i for i in graph.initializer}
    if name in inits:
        return numpy_helper.to_array(inits[name])
    node = producers(graph).get(name)
    if node is not None and node.op_type == "Constant":
        return numpy_helper.to_array(node.attribute[0].t)
    if node is not None and node.op_type == "DequantizeLinear":
        x = constant_value(graph, node.input[0]).astype(np.float32)
        scale = constant_value(graph, node.input[1]).astype(np.float32)
        zero = (constant_value(graph, node.input[2]).astype(np.float32) if len(node.input) > 2 and node.input[2]
                else np.zeros_like(scale))
        if scale.ndim == 1 and x.ndim > 1:
            axis = int(attributes(node).get("axis", 1)) % x.ndim
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((x - zero) * scale).astype(np.float32)
    raise NotConstantError(f"{name!r} is not a constant")
