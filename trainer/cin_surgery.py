"""ONNX graph surgery for conditional instance-norm (CIN) networks: thumbnail statistics as an input.

A CIN network (Dumoulin et al.'s multi-style network, Ghiasi et al.'s arbitrary-style transform)
normalises each layer by the mean and variance of the *whole* input, then scales and shifts it by
parameters computed from a style code. Tiles normalised by their own statistics get their own
colours, so this module rewrites such a graph into the ThumbInstanceNorm pair Tessera already uses
for imported CycleGAN generators (trainer/thumb_norm.py, docs/export.md):

- ``context.onnx``: ``thumbnail`` float32 [1, 3, h, w] in [-1, 1] and ``style_code`` float32 [1, D]
  -> ``context`` float32 [1, K + D]: every normalisation layer's per-channel mean then std
  (std = sqrt(variance + the layer's eps)), in graph order, then the style code itself;
- ``model.onnx``: ``image`` float32 [N, 3, H, W] in [-1, 1] (dynamic N, H, W) and ``context``
  [N, K + D] -> ``stylized`` [N, 3, H, W] in [-1, 1]. Every layer reads its statistics and the style
  code from the context row, so each tile of an image gives the pixels the whole image would;
- ``whole.onnx`` (build_whole): ``image`` and ``style_code`` [N, D] -> ``stylized``, the network with its
  own statistics, which for an image that is its own thumbnail gives model.onnx's pixels in one pass.

Carrying the code inside the context keeps the generator's I/O convention of the registry
(``image`` + ``context``) and lets the server batch tiles of different styles together.

What a source network looks like is described by a ``CinGraph`` (where its image and code enter,
how its pixels are laid out); ``find_norm_layers`` finds the moments by their shape in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tessera import registry
from trainer import onnx_graph
from trainer.onnx_graph import NotConstantError, constant_value, descendants

# The registry's tensor names (tessera/registry/io_rule.py), under the names this module uses.
CONTEXT_NAME = registry.CONTEXT_INPUT
IMAGE_NAME = registry.INPUT_NAME
OUTPUT_NAME = registry.OUTPUT_NAME
THUMBNAIL_NAME = registry.THUMBNAIL_INPUT
STYLE_CODE_NAME = registry.STYLE_CODE_INPUT
STYLE_IMAGE_NAME = registry.STYLE_IMAGE_INPUT
_MOMENT_OPS = ("GlobalAveragePool", "ReduceMean")


class SurgeryError(ValueError):
    """The graph does not look like a CIN network this module can rewrite; the message says why."""


@dataclass(frozen=True)
class NormLayer:
    """One instance-norm layer: the tensors holding its mean and variance [N, C, 1, 1], and its eps."""

    mean: str
    variance: str
    eps: float
    channels: int = 0


@dataclass(frozen=True)
class CinGraph:
    """Where a source network's image, style code and output are, and how they are laid out.

    ``layout`` is "NHWC" or "NCHW"; pixels are in [0, 1]. ``code_input`` is the style-code input and
    ``code_size`` D its length. ``code_kind`` is "vector" for a code fed as [1, 1, 1, D] that the graph
    turns into scales with convolutions, or "weights" for a [D] weight vector that the graph mixes
    per-style parameter tables with (Mul + ReduceSum over the styles).
    """

    image_input: str
    code_input: str
    output: str
    layout: str
    code_size: int
    code_kind: str


def find_norm_layers(graph: onnx.GraphProto) -> list[NormLayer]:
    """The graph's instance-norm layers in order, found as pairs of spatial moments.

    A layer is a moment node (GlobalAveragePool, or ReduceMean over axes 2 and 3) of some tensor X
    followed by one of the squared difference of X and that mean; eps is the constant added to the
    variance (read through a DequantizeLinear when the graph is quantized).
    """
    producers = {out: node for node in graph.node for out in node.output}
    moments = [n for n in graph.node if n.op_type in _MOMENT_OPS and _is_spatial(n)]
    if len(moments) % 2:
        raise SurgeryError(f"found {len(moments)} spatial moments; expected pairs of mean and variance")
    layers = []
    for mean_node, var_node in zip(moments[::2], moments[1::2], strict=True):
        if not _depends_on(var_node.input[0], mean_node.output[0], producers, depth=10):
            raise SurgeryError(f"{var_node.name or var_node.output[0]} is not the variance of "
                               f"{mean_node.name or mean_node.output[0]}")
        layers.append(NormLayer(mean_node.output[0], var_node.output[0], _eps_after(graph, var_node.output[0])))
    if not layers:
        raise SurgeryError("the graph has no instance-norm layer")
    return layers


def build_context_and_transform(model: onnx.ModelProto, spec: CinGraph,
                                float_tail: bool = True) -> tuple[onnx.ModelProto, onnx.ModelProto, int]:
    """(context model, transform, K) from a CIN network; K counts the statistics, the code follows them.

    ``float_tail`` runs everything after the last convolution's weights in float (drops the int8
    quantize/dequantize pairs there), so a quantized network's output is not limited to the few
    dozen levels per channel its last int8 activations allow.
    """
    base = _wrapped(model, spec, float_tail)
    graph = base.graph
    layers = find_norm_layers(graph)
    layers = _with_channels(base, layers, spec)
    k = sum(2 * layer.channels for layer in layers)
    context = _context_model(base, spec, layers)
    transform = _transform_model(base, spec, layers, k)
    return context, transform, k


def build_whole(model: onnx.ModelProto, spec: CinGraph, float_tail: bool = True,
                round_trip: bool = True) -> onnx.ModelProto:
    """The network itself at Tessera's convention: ``image`` [N, 3, H, W] and ``style_code`` [N, D] ->
    ``stylized``, every layer normalised by the statistics of the image it is given (in-graph).

    For an image that is its own thumbnail this gives the pixels of ``model.onnx`` fed the context
    of that image, in one pass instead of two (the context model runs nearly the whole network).
    ``float_tail`` as for build_context_and_transform, and with ``round_trip`` (False only to measure
    why, scripts/whole_agreement.py) each variance takes the float round trip of the context row
    (_as_context_row): in a quantized network a variance a rounding error from an int8 step otherwise
    lands on its other side, which shifts a whole channel's colour. That is not enough for an int8
    network: ONNX Runtime fuses a few of its convolutions into integer kernels in model.onnx and not
    here (their outputs also feed the statistics), and the roundings differ (scripts/whole_agreement.py:
    the arbitrary network on one 512x384 photo, preset ribbons 11 levels on 0.01% of values with the
    round trip and 32 on 38% without; preset retina 41 on 55% either way), so only the float
    multistyle26 network ships it (cin_models.Network.one_pass), where both paths are identical.
    """
    whole = _wrapped(model, spec, float_tail)
    graph = whole.graph
    for i, layer in enumerate(find_norm_layers(graph) if round_trip else []):
        _as_context_row(graph, layer, i)
    outputs = [o for o in graph.output if o.name == OUTPUT_NAME]
    del graph.output[:]
    graph.output.extend(outputs)
    _prune(graph)
    onnx.checker.check_model(whole)
    return whole


def build_encoder(model: onnx.ModelProto, image_input: str, code_output: str, size: int, code_size: int
                  ) -> onnx.ModelProto:
    """An NHWC [0, 1] style predictor as ``style_image`` [1, 3, size, size] in [-1, 1] -> ``style_code`` [1, D]."""
    enc = onnx.ModelProto()
    enc.CopyFrom(model)
    graph = enc.graph
    _rename_tensor(graph, image_input, "enc_source_image")
    _rename_tensor(graph, code_output, "enc_source_code")
    original = next(i for i in graph.input if i.name == "enc_source_image")
    graph.input.remove(original)
    graph.input.append(helper.make_tensor_value_info(STYLE_IMAGE_NAME, TensorProto.FLOAT, [1, 3, size, size]))
    nodes = _from_signed(STYLE_IMAGE_NAME, "enc_in01") + [
        helper.make_node("Transpose", ["enc_in01"], ["enc_source_image"], perm=[0, 2, 3, 1])]
    _prepend(graph, nodes)
    out = next(o for o in graph.output if o.name == "enc_source_code")
    graph.output.remove(out)
    graph.initializer.append(numpy_helper.from_array(np.array([1, code_size], np.int64), "enc_code_shape"))
    graph.node.append(helper.make_node("Reshape", ["enc_source_code", "enc_code_shape"], [STYLE_CODE_NAME]))
    graph.output.append(helper.make_tensor_value_info(STYLE_CODE_NAME, TensorProto.FLOAT, [1, code_size]))
    _clear_shapes(graph)
    onnx.checker.check_model(enc)
    return enc


# ---- the two halves ---------------------------------------------------------------------------

def _wrapped(model: onnx.ModelProto, spec: CinGraph, float_tail: bool) -> onnx.ModelProto:
    """A copy of the source network with dynamic batch and size, Tessera's I/O (image, style_code ->
    stylized) and, with ``float_tail``, its last layers in float."""
    base = onnx.ModelProto()
    base.CopyFrom(model)
    graph = base.graph
    _clear_shapes(graph)
    _batch_reshapes(graph)
    if float_tail:
        _float_tail(graph, spec.image_input)
    _wrap_io(graph, spec)
    return base


def _context_model(base: onnx.ModelProto, spec: CinGraph, layers: list[NormLayer]) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(base)
    graph = model.graph
    _rename_input(graph, IMAGE_NAME, THUMBNAIL_NAME, [1, 3, "h", "w"])
    _rename_input(graph, STYLE_CODE_NAME, STYLE_CODE_NAME, [1, spec.code_size])
    pieces = []
    for i, layer in enumerate(layers):
        eps = _const(graph, f"ctx_eps_{i}", np.array(layer.eps, np.float32))
        graph.node.extend([
            helper.make_node("Flatten", [layer.mean], [f"ctx_mean_{i}"], axis=1),
            helper.make_node("Add", [layer.variance, eps], [f"ctx_var_eps_{i}"]),
            helper.make_node("Sqrt", [f"ctx_var_eps_{i}"], [f"ctx_std4_{i}"]),
            helper.make_node("Flatten", [f"ctx_std4_{i}"], [f"ctx_std_{i}"], axis=1),
        ])
        pieces += [f"ctx_mean_{i}", f"ctx_std_{i}"]
    graph.node.append(helper.make_node("Concat", pieces + [STYLE_CODE_NAME], [CONTEXT_NAME], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(CONTEXT_NAME, TensorProto.FLOAT, [1, None]))
    _prune(graph)
    onnx.checker.check_model(model)
    return model


def _transform_model(base: onnx.ModelProto, spec: CinGraph, layers: list[NormLayer], k: int) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(base)
    graph = model.graph
    replaced = {t for layer in layers for t in (layer.mean, layer.variance)}
    kept = [n for n in graph.node if not set(n.output) & replaced]
    del graph.node[:]
    graph.node.extend(kept)
    code_input = next(i for i in graph.input if i.name == STYLE_CODE_NAME)
    graph.input.remove(code_input)
    graph.input.append(helper.make_tensor_value_info(CONTEXT_NAME, TensorProto.FLOAT, ["N", k + spec.code_size]))
    nodes = [_slice(graph, CONTEXT_NAME, k, k + spec.code_size, STYLE_CODE_NAME)]
    offset = 0
    axes = _const(graph, "tf_axes23", np.array([2, 3], np.int64))
    for i, layer in enumerate(layers):
        c = layer.channels
        eps = _const(graph, f"tf_eps_{i}", np.array(layer.eps, np.float32))
        nodes += [
            _slice(graph, CONTEXT_NAME, offset, offset + c, f"tf_mean2_{i}"),
            helper.make_node("Unsqueeze", [f"tf_mean2_{i}", axes], [layer.mean]),
            _slice(graph, CONTEXT_NAME, offset + c, offset + 2 * c, f"tf_std2_{i}"),
            helper.make_node("Mul", [f"tf_std2_{i}", f"tf_std2_{i}"], [f"tf_var_eps_{i}"]),
            helper.make_node("Sub", [f"tf_var_eps_{i}", eps], [f"tf_var2_{i}"]),
            helper.make_node("Unsqueeze", [f"tf_var2_{i}", axes], [layer.variance]),
        ]
        offset += 2 * c
    _prepend(graph, nodes)
    _prune(graph)
    onnx.checker.check_model(model)
    return model


def _as_context_row(graph: onnx.GraphProto, layer: NormLayer, i: int) -> None:
    """Readers of the layer's variance get it as model.onnx does through the context row,
    sqrt(variance + eps)^2 - eps, computed with the context model's and the transform's nodes
    (_context_model, _transform_model), so bit for bit."""
    trip = f"wh_var_{i}"
    for node in graph.node:
        for j, name in enumerate(node.input):
            if name == layer.variance:
                node.input[j] = trip
    eps = _const(graph, f"wh_eps_{i}", np.array(layer.eps, np.float32))
    nodes = [helper.make_node("Add", [layer.variance, eps], [f"wh_var_eps_{i}"]),
             helper.make_node("Sqrt", [f"wh_var_eps_{i}"], [f"wh_std_{i}"]),
             helper.make_node("Mul", [f"wh_std_{i}", f"wh_std_{i}"], [f"wh_sq_{i}"]),
             helper.make_node("Sub", [f"wh_sq_{i}", eps], [trip])]
    producer = next(k for k, node in enumerate(graph.node) if layer.variance in node.output)
    for offset, node in enumerate(nodes, start=1):
        graph.node.insert(producer + offset, node)


# ---- shared rewrites --------------------------------------------------------------------------

def _wrap_io(graph: onnx.GraphProto, spec: CinGraph) -> None:
    """Tessera's convention at the edges: NCHW [-1, 1] image in and out, the code as [N, D]."""
    source_image, source_output = "io_source_image", "io_source_output"
    _rename_tensor(graph, spec.image_input, source_image)
    _rename_tensor(graph, spec.output, source_output)
    original = next(i for i in graph.input if i.name == source_image)
    graph.input.remove(original)
    graph.input.append(helper.make_tensor_value_info(IMAGE_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"]))
    head = _from_signed(IMAGE_NAME, "io_in01" if spec.layout == "NHWC" else source_image)
    if spec.layout == "NHWC":
        head.append(helper.make_node("Transpose", ["io_in01"], [source_image], perm=[0, 2, 3, 1]))
    code_in = next(i for i in graph.input if i.name == spec.code_input)
    graph.input.remove(code_in)
    graph.input.append(helper.make_tensor_value_info(STYLE_CODE_NAME, TensorProto.FLOAT, ["N", spec.code_size]))
    if spec.code_kind == "vector":
        shape = _const(graph, "io_code_shape", np.array([-1, 1, 1, spec.code_size], np.int64))
        head.append(helper.make_node("Reshape", [STYLE_CODE_NAME, shape], [spec.code_input]))
    elif spec.code_kind == "weights":
        _weights_to_matmul(graph, spec.code_input, STYLE_CODE_NAME)
    else:
        raise SurgeryError(f"unknown code kind {spec.code_kind!r}")
    _prepend(graph, head)
    out = next(o for o in graph.output if o.name == source_output)
    graph.output.remove(out)
    last = source_output
    if spec.layout == "NHWC":
        graph.node.append(helper.make_node("Transpose", [source_output], ["io_out_nchw"], perm=[0, 3, 1, 2]))
        last = "io_out_nchw"
    two = _const(graph, "io_two", np.array(2.0, np.float32))
    one = _const(graph, "io_one", np.array(1.0, np.float32))
    graph.node.extend([helper.make_node("Mul", [last, two], ["io_out_x2"]),
                       helper.make_node("Sub", ["io_out_x2", one], [OUTPUT_NAME])])
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"]))


def _weights_to_matmul(graph: onnx.GraphProto, weights: str, code: str) -> None:
    """Mul(Unsqueeze(w, 1), table [S, C]) -> ReduceSum(axis 0) -> Reshape([1, -1, 1, 1]) becomes
    MatMul(code [N, S], table) -> [N, C] -> Reshape([0, -1, 1, 1]): one code per batch item."""
    consumers = onnx_graph.consumers(graph)
    unsqueezes = [n for n in consumers.get(weights, []) if n.op_type == "Unsqueeze"]
    if len(unsqueezes) != 1 or len(consumers.get(weights, [])) != 1:
        raise SurgeryError(f"expected the style weights {weights!r} to feed exactly one Unsqueeze")
    unsqueeze = unsqueezes[0]
    count = 0
    for mul in list(consumers.get(unsqueeze.output[0], [])):
        table = next((i for i in mul.input if i != unsqueeze.output[0]), None)
        sums = consumers.get(mul.output[0], [])
        if mul.op_type != "Mul" or len(sums) != 1 or sums[0].op_type != "ReduceSum":
            raise SurgeryError(f"style weights feed {mul.op_type} {mul.name}; expected Mul + ReduceSum")
        reduce_sum = sums[0]
        reshapes = consumers.get(reduce_sum.output[0], [])
        matmul = helper.make_node("MatMul", [code, table], [reduce_sum.output[0]])
        _replace_node(graph, reduce_sum, matmul)
        graph.node.remove(mul)
        for reshape in reshapes:
            if reshape.op_type != "Reshape":
                raise SurgeryError(f"a style parameter feeds {reshape.op_type}; expected Reshape")
            shape = _const(graph, f"{reshape.output[0]}_batched", np.array([0, -1, 1, 1], np.int64))
            reshape.input[1] = shape
        count += 1
    graph.node.remove(unsqueeze)
    if not count:
        raise SurgeryError("the style weights scale no parameter table")


def _float_tail(graph: onnx.GraphProto, image: str) -> None:
    """Bypass every QuantizeLinear -> [Transpose|Reshape] -> DequantizeLinear chain fed by the last
    Conv on the image's path (not the style-parameter convolutions) or anything computed from it."""
    on_path = descendants(graph, image)
    convs = [n for n in graph.node if n.op_type == "Conv" and n.input[0] in on_path]
    if not convs:
        return
    tail = descendants(graph, convs[-1].output[0])
    producers = {out: node for node in graph.node for out in node.output}
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        chain = []
        src = producers.get(dq.input[0])
        while src is not None and src.op_type in ("Transpose", "Reshape"):
            chain.append(src)
            src = producers.get(src.input[0])
        if src is None or src.op_type != "QuantizeLinear" or src.input[0] not in tail:
            continue
        current = src.input[0]
        for step in reversed(chain):
            name = f"{step.output[0]}_float"
            node = onnx.NodeProto()
            node.CopyFrom(step)
            del node.input[:]
            node.input.extend([current, *step.input[1:]])
            del node.output[:]
            node.output.append(name)
            node.name = f"{step.name}_float"
            graph.node.insert(list(graph.node).index(dq), node)
            current = name
        _replace_node(graph, dq, helper.make_node("Identity", [current], [dq.output[0]]))
    _prune(graph)


def _batch_reshapes(graph: onnx.GraphProto) -> None:
    """Reshape targets fixed to batch 1 ([1, C, 1, 1]) keep the batch instead ([-1, C, 1, 1])."""
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]])
            if shape.ndim == 1 and len(shape) == 4 and shape[0] == 1 and (shape[1:] > 0).all():
                fixed = shape.copy()
                fixed[0] = -1
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(fixed.astype(np.int64), node.input[1]))


def _with_channels(base: onnx.ModelProto, layers: list[NormLayer], spec: CinGraph) -> list[NormLayer]:
    """Learn each layer's channel count by running the graph once on a small image."""
    from tessera.onnx_session import open_session

    probe = onnx.ModelProto()
    probe.CopyFrom(base)
    del probe.graph.output[:]
    for layer in layers:
        probe.graph.output.append(helper.make_tensor_value_info(layer.mean, TensorProto.FLOAT, None))
    session = open_session(probe.SerializeToString(), threads=1)
    feeds = {IMAGE_NAME: np.zeros((1, 3, 64, 64), np.float32),
             STYLE_CODE_NAME: np.full((1, spec.code_size), 1.0 / spec.code_size, np.float32)}
    means = session.run(None, feeds)
    return [NormLayer(layer.mean, layer.variance, layer.eps, int(m.shape[1])) for layer, m in zip(layers, means,
                                                                                             strict=True)]


# ---- small graph helpers ----------------------------------------------------------------------

def _is_spatial(node: onnx.NodeProto) -> bool:
    if node.op_type == "GlobalAveragePool":
        return True
    axes = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axes"), None)
    return axes is not None and sorted(axes) == [2, 3]


def _depends_on(tensor: str, ancestor: str, producers: dict, depth: int) -> bool:
    if tensor == ancestor:
        return True
    node = producers.get(tensor)
    if node is None or depth == 0:
        return False
    return any(_depends_on(i, ancestor, producers, depth - 1) for i in node.input if i)


def _eps_after(graph: onnx.GraphProto, variance: str) -> float:
    """The constant added to ``variance`` (possibly behind a Quantize/Dequantize pair)."""
    consumers = onnx_graph.consumers(graph)
    current = variance
    for _ in range(3):
        nexts = consumers.get(current, [])
        add = next((n for n in nexts if n.op_type == "Add"), None)
        if add is not None:
            other = next(i for i in add.input if i != current)
            try:
                return float(np.asarray(constant_value(graph, other)).reshape(-1)[0])
            except NotConstantError as exc:
                raise SurgeryError(str(exc)) from None
        follow = next((n for n in nexts if n.op_type in ("QuantizeLinear", "DequantizeLinear", "Identity")), None)
        if follow is None:
            break
        current = follow.output[0]
    raise SurgeryError(f"no eps is added to the variance {variance!r}")


def _replace_node(graph: onnx.GraphProto, old: onnx.NodeProto, new: onnx.NodeProto) -> None:
    index = list(graph.node).index(old)
    graph.node.remove(old)
    graph.node.insert(index, new)


def _prepend(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nobody reads, then initializers nobody reads."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if set(node.output) & needed:
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)
    inputs = [i for i in graph.input if i.name in needed]
    del graph.input[:]
    graph.input.extend(inputs)


def _clear_shapes(graph: onnx.GraphProto) -> None:
    """Forget recorded intermediate shapes: the source fixed H and W, the rewritten graph does not."""
    del graph.value_info[:]


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor everywhere: graph inputs and outputs, node inputs and outputs."""
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for j, name in enumerate(node.input):
            if name == old:
                node.input[j] = new
        for j, name in enumerate(node.output):
            if name == old:
                node.output[j] = new


def _rename_input(graph: onnx.GraphProto, old: str, new: str, shape: list) -> None:
    original = next(i for i in graph.input if i.name == old)
    graph.input.remove(original)
    graph.input.append(helper.make_tensor_value_info(new, TensorProto.FLOAT, shape))
    if new != old:
        for node in graph.node:
            for j, name in enumerate(node.input):
                if name == old:
                    node.input[j] = new


def _from_signed(source: str, target: str) -> list[onnx.NodeProto]:
    """[-1, 1] -> [0, 1] as two nodes (constants carried as attributes-free Constant nodes)."""
    half = f"{target}_half"
    return [
        helper.make_node("Constant", [], [half], value=numpy_helper.from_array(np.array(0.5, np.float32))),
        helper.make_node("Mul", [source, half], [f"{target}_scaled"]),
        helper.make_node("Add", [f"{target}_scaled", half], [target]),
    ]


def _const(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def _slice(graph: onnx.GraphProto, source: str, start: int, end: int, output: str) -> onnx.NodeProto:
    starts = _const(graph, f"{output}_starts", np.array([start], np.int64))
    ends = _const(graph, f"{output}_ends", np.array([end], np.int64))
    axes = _const(graph, f"{output}_axes", np.array([1], np.int64))
    return helper.make_node("Slice", [source, starts, ends, axes], [output])
