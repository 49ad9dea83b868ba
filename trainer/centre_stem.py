"""Centre a version's stem: its first convolution sees the picture minus the thumbnail's mean colour.

Why: in bf16 a foggy or flat picture loses its small differences where the stem's convolution output
is stored. That output is a large per-channel offset (the weights' sum times the picture's grey)
plus a small signal, and bf16 keeps 8 bits of mantissa relative to the whole value, so the rounding
is relative to the offset. The norm after it then subtracts the offset and divides by the picture's
small spread, amplifying what was rounded away (docs/serving.md, "Engines"). Subtracting a constant
colour c from the convolution's input removes the offset before anything is stored: for a
convolution over reflection-padded input (a bias, if any, is a constant it keeps),

    conv(x - c) = conv(x) - W c        (W c: one constant per output channel)

and the instance norm after it is blind to per-channel constants, since its statistics are computed
from the same centred convolution (Ulyanov et al., 2016, "Instance Normalization"). So in exact
arithmetic the centred pair paints what the original paints (measured: 118-146 dB PSNR apart in fp32
on the hold-out photos, rounding), and in bf16 the stem stores small numbers. For that the centring
itself must happen before bf16 rounds the picture: the manifest form `bf16-fp32-input` keeps the
picture's preparation up to the convolution in fp32 (inference_server/runtime/stem_split.py).

The constant is the mean colour of the tensor the context model's stem convolves (the thumbnail as
that convolution sees it). The context model computes it and appends it to its output, [1, K] ->
[1, K + 3]; the generator reads it from the last 3 places of its context input and hands its other
layers the first K unchanged. Both must be changed together: a context model's output must be as wide
as its generator's context input (tessera.registry's I/O rule).

Raises CentreStemError for graphs it cannot centre exactly: no convolution, a stem convolution with its
own zero padding, a stem without a norm between its convolution and its ReLU (any-painting's), a
generator without a context input of fixed width, a graph centred already. The check is structural;
scripts/bf16_check.py --centre-stem also compares the centred pair with the original on photos.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tessera.registry import CONTEXT_INPUT, CONTEXT_OUTPUT

CENTRE_WIDTH = 3  # the RGB mean colour appended to the context
CENTRED_PREFIX = "centre/"  # the names of the nodes and tensors centring adds


class CentreStemError(ValueError):
    """The graph cannot be centred exactly; the message says why."""


def centre_stem(generator: onnx.ModelProto, context: onnx.ModelProto) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Copies of a version's generator (`image`, `context` [N, K] -> `stylized`) and its context model
    (`thumbnail`, ... -> `context` [1, K]) with their stems centred: the context model's output becomes
    [1, K + 3], the generator's context input [N, K + 3]. Raises CentreStemError (see the module)."""
    generator, context = _copy(generator), _copy(context)
    width = _context_width(generator)
    _centre_generator(generator, width)
    _centre_context(context, width)
    return generator, context


def centre_whole(whole: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a version's one-pass model (whole.onnx: `image`, `style_code` -> `stylized`, its
    statistics in-graph, trainer/cin_surgery.py) with its stem centred as centre_stem centres the
    context model: by the mean colour of what its stem convolves, which for an image that is its own
    thumbnail is the colour the two passes use, so one pass still gives the two passes' pixels."""
    whole = _copy(whole)
    graph = whole.graph
    conv = _stem_convolution(graph, "one-pass model")
    _insert_before(graph, conv, [
        _spatial_mean(whole, conv.input[0], "centre/colour"),
        helper.make_node("Sub", [conv.input[0], "centre/colour"], ["centre/centred"], name="centre/centred"),
    ])
    conv.input[0] = "centre/centred"
    return whole


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _context_width(generator: onnx.ModelProto) -> int:
    port = next((i for i in generator.graph.input if i.name == CONTEXT_INPUT), None)
    if port is None:
        raise CentreStemError(f"the generator has no '{CONTEXT_INPUT}' input to carry the mean colour")
    dim = port.type.tensor_type.shape.dim[1]
    if not dim.HasField("dim_value"):
        raise CentreStemError(f"the generator's '{CONTEXT_INPUT}' input has no fixed width")
    return dim.dim_value


def _stem_convolution(graph: onnx.GraphProto, which: str) -> onnx.NodeProto:
    """The graph's first convolution, checked to be centrable: not centred already, no zero padding
    of its own. (A Pad node before it is fine: the subtraction comes after it, right before the
    convolution. A bias keeps centring exact, though it leaves its own offset in bf16.)"""
    if any(node.name.startswith(CENTRED_PREFIX) for node in graph.node):
        raise CentreStemError(f"the {which}'s stem is centred already")
    conv = next((node for node in graph.node if node.op_type == "Conv"), None)
    if conv is None:
        raise CentreStemError(f"the {which} has no convolution")
    pads = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [])
    auto_pad = next((a.s.decode() for a in conv.attribute if a.name == "auto_pad"), "NOTSET")
    if any(pads) or auto_pad not in ("NOTSET", "VALID"):
        raise CentreStemError(f"the {which}'s stem convolution pads with zeros, where centring is not exact")
    _check_norm(graph, conv, which)
    return conv


def _check_norm(graph: onnx.GraphProto, conv: onnx.NodeProto, which: str) -> None:
    """The stem's convolution must reach the first ReLU through a norm that subtracts a mean (a Sub):
    only such a norm is blind to the constant that centring takes off."""
    nodes = list(graph.node)
    relu = next((node for node in nodes if node.op_type == "Relu"), None)
    between = nodes[nodes.index(conv) + 1:nodes.index(relu)] if relu is not None and relu in nodes else []
    if not any(node.op_type == "Sub" for node in between):
        raise CentreStemError(f"the {which}'s stem convolution reaches its first ReLU without a norm, which "
                              "would see the constant that centring takes off")


def _insert_before(graph: onnx.GraphProto, anchor: onnx.NodeProto, nodes: list[onnx.NodeProto]) -> None:
    at = list(graph.node).index(anchor)
    for offset, node in enumerate(nodes):
        graph.node.insert(at + offset, node)


def _centre_generator(generator: onnx.ModelProto, width: int) -> None:
    graph = generator.graph
    conv = _stem_convolution(graph, "generator")
    # Every reader of the context keeps reading the first `width` values.
    for node in graph.node:
        node.input[:] = ["centre/context_k" if name == CONTEXT_INPUT else name for name in node.input]
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0], np.int64), "centre/zero"),
        numpy_helper.from_array(np.array([width], np.int64), "centre/k"),
        numpy_helper.from_array(np.array([width + CENTRE_WIDTH], np.int64), "centre/k3"),
        numpy_helper.from_array(np.array([1], np.int64), "centre/axis"),
        numpy_helper.from_array(np.array([-1, CENTRE_WIDTH, 1, 1], np.int64), "centre/shape"),
    ])
    graph.node.insert(0, helper.make_node("Slice", [CONTEXT_INPUT, "centre/zero", "centre/k", "centre/axis"],
                                          ["centre/context_k"], name="centre/context_k"))
    _insert_before(graph, conv, [
        helper.make_node("Slice", [CONTEXT_INPUT, "centre/k", "centre/k3", "centre/axis"], ["centre/colour_row"],
                         name="centre/colour_row"),
        helper.make_node("Reshape", ["centre/colour_row", "centre/shape"], ["centre/colour"], name="centre/colour"),
        helper.make_node("Sub", [conv.input[0], "centre/colour"], ["centre/centred"], name="centre/centred"),
    ])
    conv.input[0] = "centre/centred"
    next(i for i in graph.input if i.name == CONTEXT_INPUT).type.tensor_type.shape.dim[1].dim_value = \
        width + CENTRE_WIDTH


def _centre_context(context: onnx.ModelProto, width: int) -> None:
    graph = context.graph
    conv = _stem_convolution(graph, "context model")
    if [o.name for o in graph.output] != [CONTEXT_OUTPUT]:
        raise CentreStemError(f"the context model's outputs are not just '{CONTEXT_OUTPUT}'")
    _insert_before(graph, conv, [
        _spatial_mean(context, conv.input[0], "centre/colour"),
        helper.make_node("Sub", [conv.input[0], "centre/colour"], ["centre/centred"], name="centre/centred"),
    ])
    conv.input[0] = "centre/centred"
    producer = next(node for node in graph.node if CONTEXT_OUTPUT in node.output)
    producer.output[list(producer.output).index(CONTEXT_OUTPUT)] = "centre/context_k"
    graph.node.extend([
        helper.make_node("Flatten", ["centre/colour"], ["centre/colour_row"], axis=1, name="centre/colour_row"),
        helper.make_node("Concat", ["centre/context_k", "centre/colour_row"], [CONTEXT_OUTPUT], axis=1,
                         name="centre/context"),
    ])
    dim = graph.output[0].type.tensor_type.shape.dim[1]
    dim.Clear()
    dim.dim_value = width + CENTRE_WIDTH


def _spatial_mean(model: onnx.ModelProto, tensor: str, output: str) -> onnx.NodeProto:
    """ReduceMean of an NCHW tensor over H and W, kept as [N, C, 1, 1]; opset 18 moved `axes` to an input."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    if opset < 18:
        return helper.make_node("ReduceMean", [tensor], [output], axes=[2, 3], keepdims=1, name=output)
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 3], np.int64), f"{output}/axes"))
    return helper.make_node("ReduceMean", [tensor, f"{output}/axes"], [output], keepdims=1, name=output)
