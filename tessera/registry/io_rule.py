"""The I/O convention of a generator's ONNX files: tensor names and the one rule that export and server share.

A generator takes `image`, float32 NCHW RGB in [-1, 1] with dynamic N, H and W, and returns `stylized` of
the same shape and range. With a context model it also takes `context`, float32 [N, K], which the
context model computes from a `thumbnail` of the whole image (docs/registry.md).
"""

from __future__ import annotations

INPUT_NAME = "image"
OUTPUT_NAME = "stylized"
CONTEXT_INPUT = "context"
THUMBNAIL_INPUT = "thumbnail"
CONTEXT_OUTPUT = "context"

# An ONNX tensor's description: (element type as ONNX Runtime names it, shape with str/None for dynamic dims).
TensorSpec = tuple[str, list]


def generator_io_problem(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
                         with_context: bool) -> str | None:
    """What breaks the generator I/O convention, or None: the one rule that export and server share."""
    expected_inputs = {INPUT_NAME, CONTEXT_INPUT} if with_context else {INPUT_NAME}
    if set(inputs) != expected_inputs:
        return f"model inputs are {sorted(inputs)}; expected {sorted(expected_inputs)}"
    if OUTPUT_NAME not in outputs:
        return f"model outputs are {sorted(outputs)}; expected '{OUTPUT_NAME}'"
    for name, (kind, shape) in ((INPUT_NAME, inputs[INPUT_NAME]), (OUTPUT_NAME, outputs[OUTPUT_NAME])):
        if kind != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
            return f"'{name}' is {kind} {shape}; expected float32 [N, 3, H, W]"
        fixed = [dim for dim, axis in zip(shape, "NCHW", strict=True) if axis != "C" and isinstance(dim, int)]
        if fixed:
            return f"'{name}' has fixed dimensions {shape}; N, H and W must be dynamic"
    if with_context and (inputs[CONTEXT_INPUT][0] != "tensor(float)" or len(inputs[CONTEXT_INPUT][1]) != 2):
        return f"'{CONTEXT_INPUT}' is {inputs[CONTEXT_INPUT]}; expected float32 [N, K]"
    return None


def context_io_problem(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]) -> str | None:
    """What breaks the context model's convention (input `thumbnail`, output `context`), or None."""
    if set(inputs) != {THUMBNAIL_INPUT} or CONTEXT_OUTPUT not in outputs:
        return (f"context model has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
                f"expected input '{THUMBNAIL_INPUT}' and output '{CONTEXT_OUTPUT}'")
    return None
