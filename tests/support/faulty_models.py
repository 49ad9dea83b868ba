"""Hand-built ONNX generators that follow the I/O convention but give NaN on some inputs only.

Each is a few nodes (opset 17) with input `image` and output `stylized`, float32 [N, 3, H, W]:
- `per_tile_normalisation`: (x - mean) / std over each tile without an epsilon, so a flat tile is 0/0.
- `nan_at_white`: adds 0 * log(1 - x), which is 0 * -inf = NaN where a pixel is exactly +1 (RGB 255).
- `nan_on_flat_value`: NaN for a tile whose every value equals one RGB8 level, finite otherwise;
  with a level no load probe uses, the version loads and fails only when such a tile is served.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from tessera.pixels import rgb8_to_chw
from tessera.registry import INPUT_NAME, OUTPUT_NAME, write_version
from tests.support.tiny_model import tiny_manifest

SPATIAL = [2, 3]


def _save(path: Path, nodes: list, initializers: list) -> Path:
    shape = ["n", 3, "h", "w"]
    graph = helper.make_graph(nodes, "faulty", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, shape)],
                              initializer=initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _scalar(name: str, value: float):
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def per_tile_normalisation(path: Path) -> Path:
    nodes = [
        helper.make_node("ReduceMean", [INPUT_NAME], ["mean"], axes=SPATIAL, keepdims=1),
        helper.make_node("Sub", [INPUT_NAME, "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=SPATIAL, keepdims=1),
        helper.make_node("Sqrt", ["variance"], ["std"]),
        helper.make_node("Div", ["centred", "std"], ["normalised"]),
        helper.make_node("Tanh", ["normalised"], [OUTPUT_NAME]),
    ]
    return _save(path, nodes, [])


def nan_at_white(path: Path) -> Path:
    nodes = [
        helper.make_node("Sub", ["one", INPUT_NAME], ["headroom"]),
        helper.make_node("Log", ["headroom"], ["log"]),
        helper.make_node("Mul", ["log", "zero"], ["poison"]),
        helper.make_node("Add", [INPUT_NAME, "poison"], [OUTPUT_NAME]),
    ]
    return _save(path, nodes, [_scalar("one", 1.0), _scalar("zero", 0.0)])


def nan_on_flat_value(path: Path, level: int) -> Path:
    # The level as the server computes it from RGB8, so equality is exact.
    value = float(rgb8_to_chw(np.full((1, 1, 3), level, np.uint8))[0, 0, 0])
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "level"], ["offset"]),
        helper.make_node("Abs", ["offset"], ["distance"]),
        helper.make_node("ReduceMax", ["distance"], ["largest"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Equal", ["largest", "zero"], ["flat"]),
        helper.make_node("Where", ["flat", "nan", "zero"], ["poison"]),
        helper.make_node("Add", [INPUT_NAME, "poison"], ["sum"]),
        helper.make_node("Neg", ["sum"], [OUTPUT_NAME]),  # an inverted photo: visibly not the input
    ]
    return _save(path, nodes, [_scalar("level", value), _scalar("zero", 0.0), _scalar("nan", float("nan"))])


def add_version(registry: Path, style: str, model: Path) -> int:
    """Write `model` as the next version of `style` with the tiny model's manifest (halo 16, multiple 2)."""
    return write_version(registry, style, {"model.onnx": model}, tiny_manifest())
