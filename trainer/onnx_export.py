"""ONNX export of generators and context models, checked against PyTorch before anything is written.

Uses the TorchScript-based exporter: it maps dynamic N, H and W with plain ``dynamic_axes`` and needs
no extra dependency. It is deprecated in favour of the torch.export-based one, which needs onnxscript
and divisibility constraints on H and W; the warnings of the old path are silenced here only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from tessera.onnx_session import open_session
from tessera.registry import (
    CONTEXT_INPUT,
    CONTEXT_OUTPUT,
    INPUT_NAME,
    OUTPUT_NAME,
    STYLE_CODE_INPUT,
    THUMBNAIL_INPUT,
    generator_io_problem,
    whole_io_problem,
)

OPSET = 17
PARITY_ATOL = 1e-4


class ExportError(RuntimeError):
    """The ONNX model does not reproduce PyTorch, or could not be exported; the message says how."""


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
            outputs: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        # The legacy exporter warns about its own deprecation and about constant folding details.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module.eval(), args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
            output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True,
        )


def export_generator(model: nn.Module, path: Path, example: torch.Tensor,
                     context: torch.Tensor | None = None) -> None:
    """Write ``model`` as ONNX: input ``image`` [N, 3, H, W] (+ ``context`` [N, K]) -> ``stylized``."""
    image_axes = {0: "n", 2: "h", 3: "w"}
    axes = {INPUT_NAME: image_axes, OUTPUT_NAME: image_axes}
    if context is None:
        _export(model, (example,), path, [INPUT_NAME], [OUTPUT_NAME], axes)
    else:
        axes[CONTEXT_INPUT] = {0: "n"}
        _export(model, (example, context), path, [INPUT_NAME, CONTEXT_INPUT], [OUTPUT_NAME], axes)
    check_serving_io(path, with_context=context is not None)


def check_serving_io(path: Path, with_context: bool) -> None:
    """ExportError unless the file's inputs and outputs are what the server accepts (the same rule it applies).

    Shape inference can lose a dimension the network keeps (for example, the channel count after
    a slice with a size-dependent end); the server would reject such a file as it loads it.
    """
    specs = session(path)
    problem = generator_io_problem({i.name: (i.type, list(i.shape)) for i in specs.get_inputs()},
                                   {o.name: (o.type, list(o.shape)) for o in specs.get_outputs()}, with_context)
    if problem:
        raise ExportError(f"the exported model breaks the serving convention: {problem}")


def export_context_model(model: nn.Module, path: Path, example: torch.Tensor) -> None:
    """Write a context model as ONNX: input ``thumbnail`` [1, 3, h, w] -> output ``context`` [1, K]."""
    axes = {THUMBNAIL_INPUT: {2: "h", 3: "w"}}
    _export(model, (example,), path, [THUMBNAIL_INPUT], [CONTEXT_OUTPUT], axes)


def export_conditioned_context_model(model: nn.Module, path: Path, thumbnail: torch.Tensor,
                                     style_code: torch.Tensor) -> None:
    """Write a style-conditioned context model: ``thumbnail`` [1, 3, h, w] and ``style_code`` [1, D] -> ``context``."""
    axes = {THUMBNAIL_INPUT: {2: "h", 3: "w"}}
    _export(model, (thumbnail, style_code), path, [THUMBNAIL_INPUT, STYLE_CODE_INPUT], [CONTEXT_OUTPUT], axes)


def export_whole_model(model: nn.Module, path: Path, example: torch.Tensor, style_code: torch.Tensor) -> None:
    """Write a style-conditioned whole-image model: ``image`` [N, 3, H, W] and ``style_code`` [N, D] ->
    ``stylized`` (docs/registry.md, "whole.onnx"). Raises ExportError when the written file's inputs
    and outputs are not what the server accepts (tessera.registry.whole_io_problem)."""
    image_axes = {0: "n", 2: "h", 3: "w"}
    axes = {INPUT_NAME: image_axes, STYLE_CODE_INPUT: {0: "n"}, OUTPUT_NAME: image_axes}
    _export(model, (example, style_code), path, [INPUT_NAME, STYLE_CODE_INPUT], [OUTPUT_NAME], axes)
    specs = session(path)
    problem = whole_io_problem({i.name: (i.type, list(i.shape)) for i in specs.get_inputs()},
                               {o.name: (o.type, list(o.shape)) for o in specs.get_outputs()})
    if problem:
        raise ExportError(f"the exported whole-image model breaks the serving convention: {problem}")


def session(path: Path) -> ort.InferenceSession:
    """A single-threaded CPU session (the machine is shared; parity needs no speed)."""
    return open_session(path, threads=1)


def max_abs_diff(model: nn.Module, path: Path, feeds: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime outputs for the same inputs."""
    with torch.no_grad():
        expected = model(*feeds.values()).numpy()
    actual = session(path).run(None, {k: v.numpy() for k, v in feeds.items()})[0]
    if actual.shape != expected.shape:
        raise ExportError(f"{path.name}: ONNX output shape {actual.shape} != PyTorch {expected.shape}")
    return float(np.max(np.abs(actual - expected)))


def check_parity(model: nn.Module, path: Path, feeds_list: list[dict[str, torch.Tensor]],
                 atol: float = PARITY_ATOL) -> float:
    """Raise ExportError unless ONNX Runtime matches PyTorch within ``atol`` on every feed; return the max."""
    worst = 0.0
    for feeds in feeds_list:
        diff = max_abs_diff(model, path, feeds)
        if not diff <= atol:  # also catches NaN
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feeds.items())
            raise ExportError(f"{path.name} differs from PyTorch by {diff:.2e} (> {atol:.0e}) for {shapes}")
        worst = max(worst, diff)
    return worst
