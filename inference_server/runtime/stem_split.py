"""Cut a generator's ONNX graph after its stem, or before it: the part to keep in fp32 when the rest runs
in bf16.

The *stem* is everything up to the output of the graph's first ReLU: the first convolution on the
picture, its instance norm (which divides by the thumbnail's spread) and its activation. In bf16
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
"Engines").

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
from tessera.registry import INPUT_NAME, OUTPUT_NAME, THUMBNAIL_INPUT


@dataclass(frozen=True)
class StemSplit:
    """`head`: the stem (the model's inputs -> `cuts`); `tail`: the rest (`cuts` and the model's other
    inputs, such as a context or a style code -> the model's output). Both serialized ONNX models.
    `cuts` starts with the first ReLU's output; a context model's stem also hands on the statistics
    of its first norm, which the rest only passes to its output."""

    head: bytes
    tail: bytes
    cuts: tuple[str, ...]


def split_after_stem(model_path: Path, output: str = OUTPUT_NAME, keep: str = "stem") -> StemSplit:
    """The model cut at its first ReLU's output (`keep` "stem"), or at the input of the convolution
    before it (`keep` "input": the head only prepares the picture, the stem's convolution runs in the
    tail), for a generator (`output` "stylized") or its context model (`output` "context"). Raises
    EngineError when the model cannot be read, has no ReLU, reaches its first ReLU through other than
    one convolution (that is no stem), or when the rest reads the picture itself again (a skip
    connection from the input), which would bring bf16's rounding of the raw picture back."""
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    except Exception as exc:  # onnx raises its own error types for unreadable files
        raise EngineError(f"cannot read {model_path.name} to split off its stem: {exc}") from None
    relu = next((node for node in model.graph.node if node.op_type == "Relu"), None)
    if relu is None:
        raise EngineError(f"{model_path.name} has no ReLU, so no stem to keep in fp32")
    convolutions = [node for node in _ancestors(model.graph, relu.output[0]) if node.op_type == "Conv"]
    if len(convolutions) != 1:
        raise EngineError(f"{model_path.name}: its first ReLU follows {len(convolutions)} convolutions, not the "
                          "one of a stem")
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
    return StemSplit(head=head.SerializeToString(), tail=tail.SerializeToString(), cuts=cuts)


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
    Tensors computed from constants alone are not handed on: the tail recomputes them."""
    computed = {i.name for i in graph.input}
    for node in graph.node:
        if any(name in computed for name in node.input):
            computed.update(node.output)
    made = {name for node in head for name in node.output} & computed
    read = _read_by(rest)
    others = [name for node in head for name in node.output if name in made and name in read and name != cut]
    return (cut, *others)
