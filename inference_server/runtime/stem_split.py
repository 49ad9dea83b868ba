"""Cut a generator's ONNX graph after its stem, or before it: the part to keep in fp32 when the rest runs
in bf16.

The *stem* is everything up to the output of the graph's first ReLU after a norm: for most networks
the first convolution on the picture, its instance norm (which divides by the thumbnail's spread)
and its activation; for one whose first layers have no norm (any-painting), those layers too. In bf16
that is where a low-contrast picture breaks: the first convolution's bf16 weights and output round
away most of a foggy picture's small differences, and the norm's multiply-add (`x * scale + shift`
with a large scale) cancels in bf16 what is left. Measured on Umber Oil v10's 4-grey-level probe
tile: 24.0 dB PSNR from fp32 with the whole network in bf16, 23.7 with only the stem convolution in
bf16, 28.2 with only the convolution in fp32, 58.0 with the stem in fp32 (docs/serving.md, "Engines",
measured by cutting the graph there and running each part on either engine).
After the stem every activation is normalised, so bf16's relative rounding stays small.

A version's context model (the thumbnail's statistics for each norm) is split the same way and run in
the same form as its tiles: statistics computed in fp32 from fp32 activations but applied to bf16
ones leave a flat picture's activations a rounding error away from their mean, and the norm divides
that by the picture's spread (about zero), which painted teacher-26's flat probes 7.6 dB from fp32.
With its context model in the tiles' form every natural probe is within 36 dB (docs/serving.md,
"Engines"). Networks that apply their statistics as one multiply-add and gate flat channels need the
opposite, an fp32 context model; inference_server/bf16_forms.py tries both.

A centred stem (trainer/centre_stem.py) needs only the picture's preparation in fp32: its scaling,
padding and the subtraction of the mean colour, cut before the stem's convolution. The convolution
then sees small numbers that bf16 keeps well, and runs in bf16 with the rest; in bf16 the preparation
itself would round a bright foggy picture's values to about one grey level (bf16 keeps steps of 1/256
between 0.5 and 1), which the norm then amplifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx.utils import Extractor

from inference_server.runtime import EngineError
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME, THUMBNAIL_INPUT


@dataclass(frozen=True)
class StemSplit:
    """`head`: the stem (the model's inputs -> `cuts`); `tail`: the rest (`cuts` and the model's other
    inputs, such as a context or a style code -> the model's output). Both serialized ONNX models.
    `cuts` starts with the first ReLU's output; a context model's stem also hands on the statistics
    of its first norm, which the rest only passes to its output."""

    head: bytes
    tail: bytes
    cuts: tuple[str, ...]
    # Convolutions in the head: a generator and its context model must keep the same layers in fp32,
    # or the statistics come from other arithmetic than the tiles'.
    convolutions: int


def split_after_stem(model_path: Path, output: str = OUTPUT_NAME, keep: str = "stem") -> StemSplit:
    """The model cut after its stem (`keep` "stem": at the output of the first ReLU that follows a
    norm, or of the first ReLU in a network without norms), or at the input of the stem's
    convolution (`keep` "input": the head only prepares the picture, the convolution runs in the
    tail), for a generator (`output` "stylized") or its context model (`output` "context"). Raises
    EngineError when the model cannot be read, has no ReLU, has no convolution before the ReLU that
    ends its stem (or, for "input", more than one), or when the rest reads the picture itself again
    (a skip connection from the input), which would bring bf16's rounding of the raw picture back."""
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    except Exception as exc:  # onnx raises its own error types for unreadable files
        raise EngineError(f"cannot read {model_path.name} to split off its stem: {exc}") from None
    relu = _first_normalised_relu(model.graph) or next((n for n in model.graph.node if n.op_type == "Relu"), None)
    if relu is None:
        raise EngineError(f"{model_path.name} has no ReLU, so no stem to keep in fp32")
    convolutions = [node for node in _ancestors(model.graph, relu.output[0]) if node.op_type == "Conv"]
    if not convolutions or (keep == "input" and len(convolutions) != 1):
        wanted = "the one of a centred stem" if keep == "input" else "at least one"
        raise EngineError(f"{model_path.name}: the ReLU that ends its stem follows {len(convolutions)} "
                          f"convolutions, not {wanted}")
    cut = relu.output[0] if keep == "stem" else convolutions[0].input[0]
    head_nodes = _ancestors(model.graph, cut)
    rest = [node for node in model.graph.node if not any(node is h for h in head_nodes)]
    inputs = [i.name for i in model.graph.input]
    pictures = {INPUT_NAME, THUMBNAIL_INPUT} & set(inputs)  # a generator's tile, a context model's thumbnail
    if pictures & _read_by(rest):
        raise EngineError(f"{model_path.name}: the layers after its stem read the picture again, so the stem "
                          "cannot run apart")
    cuts = _handed_on(model.graph, head_nodes, rest, cut)
    extractor = Extractor(model)
    try:
        head = extractor.extract_model(inputs, list(cuts))
        tail = extractor.extract_model(list(cuts) + [name for name in inputs if name not in pictures], [output])
    except ValueError as exc:  # a tensor without shape information cannot be a cut
        raise EngineError(f"{model_path.name}: cannot cut at {cut}: {exc}") from None
    return StemSplit(head=head.SerializeToString(), tail=tail.SerializeToString(), cuts=cuts,
                     convolutions=sum(node.op_type == "Conv" for node in head_nodes))


_STATISTICS = ("ReduceMean", "GlobalAveragePool")  # how a graph takes a norm's mean over the picture


def _first_normalised_relu(graph: onnx.GraphProto) -> onnx.NodeProto | None:
    """The first ReLU with a convolution and a norm's statistics before it: read from the context
    input (a generator) or computed by a spatial mean (a context model). Until the first norm,
    activations carry the picture's offset, which bf16 rounds (any-painting's first three layers are
    a convolution and a ReLU each; its first norm is in the fourth)."""
    for node in graph.node:
        if node.op_type == "Relu":
            before = _ancestors(graph, node.output[0])
            statistics = CONTEXT_INPUT in _read_by(before) or any(n.op_type in _STATISTICS for n in before)
            if statistics and any(n.op_type == "Conv" for n in before):
                return node
    return None


def _ancestors(graph: onnx.GraphProto, tensor: str) -> list[onnx.NodeProto]:
    """The nodes that `tensor` is computed from, itself included, in graph order."""
    producers = {name: node for node in graph.node for name in node.output}
    found, stack = set(), [tensor]
    while stack:
        node = producers.get(stack.pop())
        if node is not None and id(node) not in found:
            found.add(id(node))
            stack.extend(node.input)
    return [node for node in graph.node if id(node) in found]


def _read_by(nodes: list[onnx.NodeProto]) -> set[str]:
    return {name for node in nodes for name in node.input}


def _handed_on(graph: onnx.GraphProto, head: list[onnx.NodeProto], rest: list[onnx.NodeProto],
               cut: str) -> tuple[str, ...]:
    """`cut`, then every other tensor the head computes from the model's inputs that the rest reads.
    Tensors computed from constants alone are not handed on: the tail recomputes them. The tail
    rounds what it is handed to bf16, a skip connection from inside the stem too (any-painting hands
    on its third layer's output); whether that holds is for the probes and the publisher's
    measurement to say, as for everything in the tail."""
    computed = {i.name for i in graph.input}
    for node in graph.node:
        if any(name in computed for name in node.input):
            computed.update(node.output)
    made = {name for node in head for name in node.output} & computed
    read = _read_by(rest)
    others = [name for node in head for name in node.output if name in made and name in read and name != cut]
    return (cut, *others)
