"""The I/O convention of a generator's ONNX files: tensor names and the one rule that export and server share.

A generator takes `image`, float32 NCHW RGB in [-1, 1] with dynamic N, H and W, and returns `stylized` of
the same shape and range. With a context model it also takes `context`, float32 [N, K], which the
context model computes from a `thumbnail` of the whole image (docs/registry.md).
"""

from __future__ import annotations

from typing import TypeGuard

INPUT_NAME = "image"
OUTPUT_NAME = "stylized"
CONTEXT_INPUT = "context"
THUMBNAIL_INPUT = "thumbnail"
CONTEXT_OUTPUT = "context"
# A style-conditioned version's context model also takes the style code [1, D]; its encoder maps a
# style image [1, 3, S, S] in [-1, 1] to that code (docs/registry.md, kind "conditioned").
STYLE_CODE_INPUT = "style_code"
STYLE_IMAGE_INPUT = "style_image"
STYLE_CODE_OUTPUT = "style_code"
# A conditioned version's whole.onnx must give model.onnx's pixels (fed the context of the same image):
# at most this fraction of output values more than one 8-bit level apart, and a PSNR of at least this.
# Not bit for bit: in an int8 network ONNX Runtime fuses some convolutions in one graph and not in the
# other, which moved a few pixels in ten thousand by up to 11 levels (trainer/cin_surgery.build_whole).
WHOLE_MAX_FAR_FRACTION = 0.001
WHOLE_MIN_PSNR_DB = 50.0

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
    if with_context and not is_fixed_width(inputs[CONTEXT_INPUT][1][1]):
        # K is what the context model computes; a dynamic one would take a context of any width.
        return f"'{CONTEXT_INPUT}' is {inputs[CONTEXT_INPUT]}; its width K must be a fixed number"
    return None


def is_fixed_width(dim: object) -> TypeGuard[int]:
    """Whether an ONNX dimension as ONNX Runtime reports it (int, or str/None when dynamic) is a fixed width."""
    return isinstance(dim, int) and not isinstance(dim, bool) and dim > 0


def whole_io_problem(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]) -> str | None:
    """What breaks a style-conditioned version's whole-image convention, or None: `image` [N, 3, H, W] and
    `style_code` [N, D] in, `stylized` [N, 3, H, W] out, the statistics computed in-graph from the image."""
    expected = {INPUT_NAME, STYLE_CODE_INPUT}
    if set(inputs) != expected or OUTPUT_NAME not in outputs:
        return (f"whole-image model has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
                f"expected inputs {sorted(expected)} and output '{OUTPUT_NAME}'")
    problem = generator_io_problem({INPUT_NAME: inputs[INPUT_NAME]}, outputs, with_context=False)
    if problem:
        return f"whole-image model: {problem}"
    kind, shape = inputs[STYLE_CODE_INPUT]
    if kind != "tensor(float)" or len(shape) != 2:
        return f"whole-image model: '{STYLE_CODE_INPUT}' is {kind} {shape}; expected float32 [N, D]"
    return None


def context_io_problem(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
                       conditioned: bool = False) -> str | None:
    """What breaks the context model's convention (input `thumbnail`, plus `style_code` for a
    style-conditioned version; output `context`), or None."""
    expected = {THUMBNAIL_INPUT, STYLE_CODE_INPUT} if conditioned else {THUMBNAIL_INPUT}
    if set(inputs) != expected or CONTEXT_OUTPUT not in outputs:
        return (f"context model has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
                f"expected inputs {sorted(expected)} and output '{CONTEXT_OUTPUT}'")
    return None


def agreement(one, other) -> tuple[float, float]:
    """(fraction of values more than one 8-bit level apart, PSNR in dB) of two generator outputs (float
    [N, 3, H, W] in [-1, 1], the same shape): how near two graphs of one network paint. Raises
    ValueError for different shapes or values that are not finite."""
    import numpy as np

    one, other = np.asarray(one, np.float64), np.asarray(other, np.float64)
    if one.shape != other.shape:
        raise ValueError(f"outputs of shapes {one.shape} and {other.shape}")
    difference = np.abs(one - other) * 127.5  # in 8-bit levels
    if not np.isfinite(difference).all():
        raise ValueError("an output is not finite")
    mse = float(np.mean(difference**2))
    return float((difference > 1.0).mean()), float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def whole_agreement_problem(one_pass, two_pass) -> str | None:
    """Why whole.onnx's output (float [N, 3, H, W] in [-1, 1]) is not model.onnx's for the same image
    and its own context (see WHOLE_MAX_FAR_FRACTION, WHOLE_MIN_PSNR_DB), or None."""
    try:
        far, db = agreement(one_pass, two_pass)
    except ValueError as exc:
        return f"whole-image output does not match the two passes: {exc}"
    if far > WHOLE_MAX_FAR_FRACTION or db < WHOLE_MIN_PSNR_DB:
        return (f"whole-image output differs from the two passes: {far:.3%} of values by more than one level "
                f"(at most {WHOLE_MAX_FAR_FRACTION:.1%}), {db:.1f} dB (at least {WHOLE_MIN_PSNR_DB:g})")
    return None
