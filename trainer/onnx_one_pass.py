"""One pass (whole.onnx) from a style-conditioned version's two: its context model and its tiles' model.

A whole.onnx takes `image` [N, 3, H, W] and `style_code` [N, D] and computes each image's statistics in
the graph (inference_server/whole_image.py serves it for an image that is its own thumbnail). A version
whose tiles' model was rewritten without its statistics part (trainer/onnx_integer.py writes only the
tiles' form) gets one by composition: the context model, run on each image as its own thumbnail
(`Scan` over the batch, since the context model takes one thumbnail [1, 3, h, w] and one code [1, D]),
gives the [N, K] context rows the tiles' model reads. The one pass then computes exactly what the two
passes compute, node for node, so it gives their pixels wherever the runtime computes a graph inside a
Scan as it computes it alone (`scripts/graph_form_version.py` and the server's load check it).
"""

from __future__ import annotations

import onnx
from onnx import helper

from tessera.registry import CONTEXT_INPUT, CONTEXT_OUTPUT, INPUT_NAME, STYLE_CODE_INPUT, THUMBNAIL_INPUT

_PREFIX = "context_model/"


def one_pass_graph(context: onnx.ModelProto, tiles: onnx.ModelProto) -> onnx.ModelProto:
    """whole.onnx: `tiles` (inputs `image`, `context`; output `stylized`) reading the rows of `context`
    (inputs `thumbnail` [1, 3, h, w], `style_code` [1, D]; output `context` [1, K]) run on each image of
    the batch with its own code."""
    body = _per_image(context)
    scan = helper.make_node("Scan", [INPUT_NAME, STYLE_CODE_INPUT], [CONTEXT_INPUT], name="context_per_image",
                            body=body, num_scan_inputs=2)
    code = next(i for i in context.graph.input if i.name == STYLE_CODE_INPUT)
    width = code.type.tensor_type.shape.dim[1]
    code_input = helper.make_tensor_value_info(STYLE_CODE_INPUT, onnx.TensorProto.FLOAT,
                                               ["N", width.dim_value or width.dim_param or "D"])
    image_input = next(i for i in tiles.graph.input if i.name == INPUT_NAME)
    graph = helper.make_graph([scan, *tiles.graph.node], "one_pass", [image_input, code_input],
                              list(tiles.graph.output), list(tiles.graph.initializer))
    opsets = {}
    for model in (context, tiles):
        for entry in model.opset_import:
            opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    model.ir_version = max(context.ir_version, tiles.ir_version)
    onnx.checker.check_model(model)
    return model


def _per_image(context: onnx.ModelProto) -> onnx.GraphProto:
    """The context model as a Scan body: one image [3, H, W] and one code [D] in, one row [K] out, its
    own names prefixed so that they cannot meet the tiles' model's."""
    graph = onnx.GraphProto.FromString(context.graph.SerializeToString())
    renamed = {name: _PREFIX + name for name in _names(graph)}
    for number, node in enumerate(graph.node):
        node.input[:] = [renamed.get(i, i) for i in node.input]
        node.output[:] = [renamed.get(o, o) for o in node.output]
        node.name = f"{_PREFIX}{node.name or number}"
    for init in graph.initializer:
        init.name = renamed[init.name]
    axis = helper.make_tensor("axis", onnx.TensorProto.INT64, [1], [0])
    nodes = [helper.make_node("Constant", [], [_PREFIX + "axis"], value=axis),
             helper.make_node("Unsqueeze", [_PREFIX + "image", _PREFIX + "axis"], [renamed[THUMBNAIL_INPUT]]),
             helper.make_node("Unsqueeze", [_PREFIX + "code", _PREFIX + "axis"], [renamed[STYLE_CODE_INPUT]]),
             *graph.node,
             helper.make_node("Squeeze", [renamed[CONTEXT_OUTPUT], _PREFIX + "axis"], [_PREFIX + "row"])]
    inputs = [helper.make_tensor_value_info(_PREFIX + "image", onnx.TensorProto.FLOAT, None),
              helper.make_tensor_value_info(_PREFIX + "code", onnx.TensorProto.FLOAT, None)]
    outputs = [helper.make_tensor_value_info(_PREFIX + "row", onnx.TensorProto.FLOAT, None)]
    return helper.make_graph(nodes, "context_per_image", inputs, outputs, list(graph.initializer))


def _names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    for node in graph.node:
        names.update(n for n in (*node.input, *node.output) if n)
    return names
