"""Cut a generator's ONNX graph after its stem: the part to keep in fp32 when the rest runs in bf16.

The *stem* is everything up to the output of the graph's first ReLU: the first convolution on the
picture, its instance norm (which divides by the thumbnail's spread) and its activation. In bf16
that is where a low-contrast picture breaks: the first convolution's bf16 weights and output round
away most of a foggy picture's small differences, and the norm's multiply-add (`x * scale + shift`
with a large scale) cancels in bf16 what is left. Measured on Umber Oil v10's 4-grey-level probe
tile: 24.0 dB PSNR from fp32 with the whole network in bf16, 23.7 with only the stem convolution in
bf16, 28.2 with only the convolution in fp32, 58.0 with the stem in fp32 (docs/serving.md, "Engines",
measured by cutting the graph there and running each part on either engine).
After the stem every activation is normalised, so bf16's relative rounding stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx.utils import Extractor

from inference_server.runtime import EngineError
from tessera.registry import INPUT_NAME, OUTPUT_NAME


@dataclass(frozen=True)
class StemSplit:
    """`head`: the stem (the model's inputs -> `cut`); `tail`: the rest (`cut` and the context, if
    the rest reads it -> the model's output). Both serialized ONNX models."""

    head: bytes
    tail: bytes
    cut: str


def split_after_stem(model_path: Path, output: str = OUTPUT_NAME) -> StemSplit:
    """The model cut at its first ReLU's output. Raises EngineError when the model cannot be read, has
    no ReLU, reaches its first ReLU through other than one convolution (that is no stem), or when the
    rest needs the picture itself again (a skip connection from the input), which the split could
    not feed."""
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    except Exception as exc:  # onnx raises its own error types for unreadable files
        raise EngineError(f"cannot read {model_path.name} to split off its stem: {exc}") from None
    relu = next((node for node in model.graph.node if node.op_type == "Relu"), None)
    if relu is None:
        raise EngineError(f"{model_path.name} has no ReLU, so no stem to keep in fp32")
    cut = relu.output[0]
    inputs = [i.name for i in model.graph.input]
    extractor = Extractor(model)
    try:
        head = extractor.extract_model(inputs, [cut])
        tail = extractor.extract_model([cut] + [name for name in inputs if name != INPUT_NAME], [output])
    except ValueError as exc:  # a tensor without shape information cannot be a cut
        raise EngineError(f"{model_path.name}: cannot cut after its first ReLU: {exc}") from None
    convolutions = sum(node.op_type == "Conv" for node in head.graph.node)
    if convolutions != 1:
        raise EngineError(f"{model_path.name}: its first ReLU follows {convolutions} convolutions, not the "
                          "one of a stem")
    try:
        onnx.checker.check_model(tail)
    except onnx.checker.ValidationError:
        raise EngineError(f"{model_path.name}: the layers after its stem read more than the stem's output "
                          "and the context, so the stem cannot run apart") from None
    return StemSplit(head=head.SerializeToString(), tail=tail.SerializeToString(), cut=cut)
