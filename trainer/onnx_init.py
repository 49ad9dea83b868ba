"""Start a generator from an exported ONNX file's weights (fine-tuning a shipped version).

``torch.onnx.export`` keeps parameter names as the initializers' names, so an exported model.onnx
maps back onto a network built with the same architecture arguments (its manifest's
``training.architecture_args``). Shapes must agree name by name; anything missing is an error.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class InitError(ValueError):
    """The ONNX file does not hold this network's weights; the message names the first mismatch."""


def load_onnx_weights(net: nn.Module, path: str | Path) -> None:
    """Copy every parameter of ``net`` from the initializers of the ONNX file at ``path`` (in place)."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # onnx raises its own types for damaged files  # noqa: BLE001
        raise InitError(f"cannot read {path}: {exc}") from None
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = net.state_dict()
    for name, tensor in state.items():
        if name not in weights:
            raise InitError(f"{path} has no weight {name}: was it exported from this architecture?")
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise InitError(f"{path}: {name} is {tuple(weights[name].shape)}, the network wants {tuple(tensor.shape)}")
        state[name] = torch.from_numpy(weights[name].copy())
    net.load_state_dict(state)


def check_paints_as_file(model, path: str | Path, tolerance: float = 1e-4) -> None:
    """Raise InitError unless ONNX Runtime on the served ``path`` paints a random 64 px image as
    ``model`` (a trainer.serving_model.ServingModel, without its image border) does, within
    ``tolerance`` in [-1, 1] units, given the same context row. What makes weights read back from a
    served file trustworthy: a wrong mapping paints differently."""
    from tessera import registry
    from trainer.onnx_export import max_abs_diff

    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    feeds = {registry.INPUT_NAME: image}
    if model.context_model is not None:
        feeds[registry.CONTEXT_INPUT] = model.context_for(image)
    diff = max_abs_diff(model.generator, Path(path), feeds)
    if not diff <= tolerance:  # NaN fails too
        raise InitError(f"{path} paints {diff:.2g} away from the weights read from it: not this network's file")
