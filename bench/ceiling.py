"""The machine's fp32 matmul rate through ONNX Runtime, and each model's arithmetic per pixel, so a
style's speed can be read as a share of what the CPU can do right now."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

from tessera.onnx_session import open_session

PROBE_SIDE = 256  # conv work is linear in pixels, so one size gives FLOPs per pixel


def matmul_gflops(threads: int, seconds: float = 2.0, n: int = 1024) -> float:
    """GFLOP/s of an n x n fp32 MatMul in ONNX Runtime, with the session options every Tessera
    session uses (tessera/onnx_session.py), so the models' shares of it compare like with like."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["image", "b"], ["output"])], "matmul",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in ("image", "b")],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = open_session(model.SerializeToString(), threads)
    feeds = {"image": np.random.rand(n, n).astype(np.float32), "b": np.random.rand(n, n).astype(np.float32)}
    session.run(None, feeds)
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        session.run(None, feeds)
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - started) / 1e9


def flops_per_pixel(model_path: Path) -> float:
    """Multiply-adds x 2 of Conv, ConvTranspose, MatMul and Gemm nodes per output pixel, from the
    graph's inferred shapes on a PROBE_SIDE square image (batch 1). Elementwise work is left out."""
    model = onnx.load(str(model_path))
    graph = model.graph
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        sizes = [1, 3, PROBE_SIDE, PROBE_SIDE] if len(dims) == 4 else [1] * len(dims)
        for dim, size in zip(dims, sizes, strict=True):
            if not dim.HasField("dim_value"):  # only the dynamic ones: N, H, W
                dim.ClearField("dim_param")
                dim.dim_value = size
    # ONNX's own inference stops at Pad nodes whose pads are computed; ORT's symbolic one does not.
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    weights = {t.name: list(t.dims) for t in graph.initializer}
    total = 0
    for node in inferred.graph.node:
        out = shapes.get(node.output[0])
        if not out or 0 in out:
            continue
        if node.op_type in ("Conv", "ConvTranspose"):
            kernel = weights.get(node.input[1]) or shapes.get(node.input[1])
            if not kernel:
                continue
            if node.op_type == "Conv":  # every output value: C_in/groups x k x k multiply-adds
                total += 2 * int(np.prod(out)) * int(np.prod(kernel[1:]))
            else:  # every input pixel: C_in x C_out/groups x k x k
                inp = shapes.get(node.input[0]) or [0]
                total += 2 * int(np.prod(kernel)) * int(np.prod(inp)) // max(1, inp[1] if len(inp) > 1 else 1)
        elif node.op_type in ("MatMul", "Gemm"):
            left = shapes.get(node.input[0]) or weights.get(node.input[0])
            if left:
                total += 2 * int(np.prod(out)) * left[-1]
    return total / PROBE_SIDE**2
