"""Requantisation chains as lookup tables and copies on the 8-bit side (trainer/onnx_lookup.py): each
rewrite gives the graph's own outputs bit for bit, including values its quantisations saturate and a
batch of images with their own per-channel numbers; patterns a table cannot hold are left alone; and the
shipped any-painting-best v4 is v3 in that form."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.paths import RawRun
from scripts import graph_form_version
from scripts.local_stack import ROOT
from tessera.onnx_session import open_session
from tessera.registry import read_manifest
from trainer.onnx_lookup import lookup_graph

pytestmark = pytest.mark.timeout(180)
STYLE = ROOT / "model_registry" / "any-painting-best"
RNG = np.random.default_rng(11)
CHANNELS = 8


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], zero_type=np.int8,
           channels: int = CHANNELS, params: int = CHANNELS // 4) -> onnx.ModelProto:
    """x [N, channels, H, W] and per-image numbers p [N, params] (as Unsqueeze-d context rows are:
    pc [N, params, 1, 1]) -> y. Quantisations: q0 (0.05, zero point 3), q1 (0.11, -7), q2 (0.09, -128)
    in int8, or the same levels in uint8 (zero points + 128)."""
    shift = 128 if zero_type == np.uint8 else 0
    inits = inits + [_const("axes", np.array([2, 3])),
                     _const("s0", np.float32(0.05)), _const("z0", zero_type(3 + shift)),
                     _const("s1", np.float32(0.11)), _const("z1", zero_type(-7 + shift)),
                     _const("s2", np.float32(0.09)), _const("z2", zero_type(-128 + shift))]
    nodes = [helper.make_node("Unsqueeze", ["p", "axes"], ["pc"]), *nodes]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, "H", "W"]),
                     helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", params])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _q(src: str, out: str, level: str) -> list[onnx.NodeProto]:
    """src -> QuantizeLinear -> DequantizeLinear -> out, with scale s<level> and zero point z<level>."""
    return [helper.make_node("QuantizeLinear", [src, f"s{level}", f"z{level}"], [f"{out}_q"]),
            helper.make_node("DequantizeLinear", [f"{out}_q", f"s{level}", f"z{level}"], [out])]


def _norm(src: str, out: str, channels: int = CHANNELS // 4) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """A requantised norm as the wheel's network has it: Q0 -> DQ -> * per-image scale -> Q1 -> DQ ->
    + per-channel shift -> ReLU -> Q2 (zero point at the lowest level) -> DQ, on `channels` channels."""
    nodes = [*_q(src, "a", "0"), helper.make_node("Mul", ["a", "pc"], ["b"]), *_q("b", "c", "1"),
             helper.make_node("Add", ["c", "shift"], ["d"]), helper.make_node("Relu", ["d"], ["e"]), *_q("e", out, "2")]
    return nodes, [_const("shift", RNG.normal(0, 1, (1, channels, 1, 1)).astype(np.float32))]


def _feeds(batch: int = 2, channels: int = CHANNELS // 4, height: int = 20, width: int = 28,
           params: int = CHANNELS // 4) -> dict[str, np.ndarray]:
    """Values far past the quantisations' ranges as well as inside them, and per-image numbers of both signs."""
    x = RNG.normal(0, 4, (batch, channels, height, width)).astype(np.float32)
    x[:, :, 0, :4] = [-1e4, 1e4, -7.0, 7.0]  # saturated both ways
    return {"x": x, "p": RNG.normal(0, 1.5, (batch, params)).astype(np.float32)}


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return open_session(model.SerializeToString(), threads=1).run(None, feeds)[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _readers(model: onnx.ModelProto, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if tensor in n.input]


@pytest.mark.parametrize("zero_type", [np.int8, np.uint8])
def test_a_requantised_norm_becomes_one_table_with_the_same_bytes(zero_type):
    nodes, inits = _norm("x", "y")
    model = _model(nodes, inits, zero_type, channels=CHANNELS // 4)
    rewritten, made = lookup_graph(model)
    assert made == ["table for 8 steps after " + nodes[0].output[0]]
    # The map is read once, by the quantisation to a level index; the scale and shift touch only the table.
    (index,) = _readers(rewritten, "x")
    assert index.op_type == "QuantizeLinear" and _ops(rewritten).count("GatherElements") == 1
    for feeds in (_feeds(), _feeds(batch=1, height=3, width=5)):
        assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_copies_move_to_the_8_bit_side_with_the_same_bytes():
    """x -> DepthToSpace -> Q -> DQ -> reflect Pad -> y becomes x -> Q -> DepthToSpace -> Pad -> DQ -> y."""
    inits = [_const("pads", np.array([0, 0, 2, 3, 0, 0, 1, 2]))]
    model = _model([helper.make_node("DepthToSpace", ["x"], ["s"], blocksize=2, mode="CRD"), *_q("s", "d", "0"),
                    helper.make_node("Pad", ["d", "pads"], ["y"], mode="reflect")], inits)
    rewritten, made = lookup_graph(model)
    assert len(made) == 2 and _ops(rewritten)[-4:] == ["QuantizeLinear", "DepthToSpace", "Pad", "DequantizeLinear"]
    feeds = _feeds(channels=CHANNELS)
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_a_table_reads_the_copies_of_its_level_index():
    """A norm between a depth-to-space and an edge pad: both copy the uint8 index, and the table's channels
    are the ones after the depth-to-space."""
    nodes, inits = _norm("s", "n")
    inits.append(_const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1])))
    model = _model([helper.make_node("DepthToSpace", ["x"], ["s"], blocksize=2, mode="CRD"), *nodes,
                    helper.make_node("Pad", ["n", "pads"], ["y"], mode="edge")], inits)
    rewritten, made = lookup_graph(model)
    assert sum(line.startswith("table") for line in made) == 1
    (index,) = _readers(rewritten, "x")
    (copy,) = _readers(rewritten, index.output[0])
    assert index.op_type == "QuantizeLinear" and copy.op_type == "DepthToSpace"
    assert "Pad" not in [n.op_type for n in _readers(rewritten, "y")] and _ops(rewritten).count("Pad") == 1
    feeds = _feeds(channels=CHANNELS)
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_a_lone_quantisation_pair_gets_no_table():
    inits = [_const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1]))]
    model = _model([*_q("x", "d", "0"), helper.make_node("Pad", ["d", "pads"], ["y"], mode="reflect")], inits,
                   channels=CHANNELS // 4)
    rewritten, made = lookup_graph(model)
    assert "GatherElements" not in _ops(rewritten) and made == ["DequantizeLinear d after Pad on 8 bits"]
    feeds = _feeds()
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_a_sum_of_two_maps_ends_the_chain_before_it():
    """Residual sums add a second map: the table holds the steps before the sum, the sum stays."""
    nodes, inits = _norm("x", "n")
    model = _model([*nodes, helper.make_node("Add", ["n", "x"], ["sum"]), *_q("sum", "y", "1")], inits,
                   channels=CHANNELS // 4)
    rewritten, made = lookup_graph(model)
    assert len(made) == 1 and _ops(rewritten).count("Add") == 2  # the sum, and the table's shift
    (index, total) = _readers(rewritten, "x")
    assert {index.op_type, total.op_type} == {"QuantizeLinear", "Add"}
    feeds = _feeds()
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_what_a_table_cannot_hold_is_left_alone():
    """A per-channel activation quantisation, and a step with another map: the graph comes back as it was."""
    inits = [_const("scales", np.full(CHANNELS // 4, 0.05, np.float32)),
             _const("zeros", np.zeros(CHANNELS // 4, np.int8))]
    per_channel = _model([helper.make_node("QuantizeLinear", ["x", "scales", "zeros"], ["q"], axis=1),
                          helper.make_node("DequantizeLinear", ["q", "scales", "zeros"], ["d"], axis=1),
                          helper.make_node("Mul", ["d", "pc"], ["y"])], inits, channels=CHANNELS // 4)
    two_maps = _model([*_q("x", "a", "0"), helper.make_node("Mul", ["a", "x"], ["b"]), *_q("b", "y", "1")], [],
                      channels=CHANNELS // 4)
    for model in (per_channel, two_maps):
        rewritten, made = lookup_graph(model)
        assert made == [] and _ops(rewritten) == _ops(model)


def test_a_depth_to_space_after_a_per_channel_step_stays_out_of_the_table():
    """Its channels are not the table's: the chain ends before it, and it copies the next quantisation's levels."""
    nodes, inits = _norm("x", "n", channels=CHANNELS)
    model = _model([*nodes, helper.make_node("DepthToSpace", ["n"], ["s"], blocksize=2, mode="CRD"),
                    *_q("s", "y", "1")], inits, params=CHANNELS)
    rewritten, made = lookup_graph(model)
    assert sum(line.startswith("table") for line in made) == 1
    (index,) = _readers(rewritten, "x")
    assert "DepthToSpace" not in [n.op_type for n in _readers(rewritten, index.output[0])]
    feeds = _feeds(channels=CHANNELS, params=CHANNELS)
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


def test_the_shipped_any_painting_best_v4_is_v3_in_lookup_form():
    training = read_manifest(STYLE / "4").training
    assert training["lookup_graph"] and training["reexported_from"] == "any-painting-best/3"
    for name in ("model.onnx", "whole.onnx", "context.onnx"):
        expected, made = lookup_graph(onnx.load(str(STYLE / "3" / name)))
        assert sum(line.startswith("table") for line in made) == 12
        assert onnx.load(str(STYLE / "4" / name)).SerializeToString() == expected.SerializeToString()


def test_the_shipped_v4_paints_v3s_bytes_on_a_photo():
    from skimage import data

    photo = data.astronaut()[::2, ::2][:200, :248]
    assert np.array_equal(RawRun(STYLE / "4", photo, threads=2)(), RawRun(STYLE / "3", photo, threads=2)())


def test_the_script_refuses_a_version_in_lookup_form_or_copied_so(capsys):
    assert graph_form_version.main(["--form", "lookup", "--style", "any-painting-best", "--version", "4"]) == 1
    assert "any-painting-best v4 is in lookup form already" in capsys.readouterr().err
    assert graph_form_version.main(["--form", "lookup", "--style", "any-painting-best", "--version", "3"]) == 1
    assert "any-painting-best v4 is v3 in lookup form already" in capsys.readouterr().err


def test_an_exact_form_calls_any_difference_a_problem(tmp_path):
    """The lookup form must give the same bytes: v3 against its sub-pixel source v2 (80 dB and more, which
    the sub-pixel form's standard allows) is a problem under it."""
    from skimage import data

    photos = [("astronaut", data.astronaut()[::4, ::4])]
    problems, _ = graph_form_version.photo_figures(STYLE / "2", STYLE / "3", photos, exact=True)
    assert problems and all("not the same bytes" in p for p in problems if p.startswith("astronaut"))
    assert graph_form_version.photo_figures(STYLE / "3", STYLE / "3", photos, exact=True)[0] == []


def test_a_constant_pad_is_no_copy_and_ends_the_chain():
    """Zeros padded inside a norm are 0.0 to the steps after them, not the table's value for level 0: the
    table stops at the pad."""
    inits = [_const("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1]))]
    model = _model([*_q("x", "a", "0"), helper.make_node("Pad", ["a", "pads"], ["padded"], mode="constant"),
                    helper.make_node("Mul", ["padded", "pc"], ["b"]), *_q("b", "y", "1")], inits,
                   channels=CHANNELS // 4)
    rewritten, made = lookup_graph(model)
    assert "GatherElements" not in _ops(rewritten)
    feeds = _feeds()
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))


# -- the defects a review found (each a graph the first version rewrote wrongly or could not rewrite) --------


def _single(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], inputs: dict[str, list],
            opset: int = 17) -> onnx.ModelProto:
    """A model of float inputs `inputs` {name: shape} writing y, with the quantisations q0 (0.05, 3) and
    q1 (0.1, -5) in int8."""
    inits = inits + [_const("s0", np.float32(0.05)), _const("z0", np.int8(3)),
                     _const("s1", np.float32(0.1)), _const("z1", np.int8(-5))]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _same(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[str]:
    """The rewrite's lines, once its output is checked to be the original's, shape and bytes."""
    rewritten, made = lookup_graph(model)
    ours, theirs = _run(rewritten, feeds), _run(model, feeds)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    return made


_SCALED = [*_q("x", "d", "0"), helper.make_node("Mul", ["d", "w"], ["m"]), *_q("m", "y", "1")]


@pytest.mark.parametrize("weights", [(1, 4, 1, 1), (2, 3, 1, 1)])
def test_numbers_for_more_images_or_channels_than_the_map_has_get_no_table(weights):
    """x [1, 1 or 3, H, W] times w [1, 4, 1, 1] or [2, 3, 1, 1] makes a wider map than x: the table, indexed
    by x, gave x's shape (1 x 1 and 1 x 3 maps where 1 x 4 and 2 x 3 were due)."""
    channels = 1 if weights[1] == 4 else 3
    model = _single(_SCALED, [_const("w", RNG.normal(size=weights).astype(np.float32))],
                    {"x": [1, channels, "H", "W"]})
    assert _same(model, {"x": RNG.normal(0, 3, (1, channels, 5, 6)).astype(np.float32)}) == []


def test_a_dequantisation_read_by_a_quantisation_stays_out_of_tables():
    """ONNX Runtime merges Q -> DQ -> Q -> DQ into one pair (also with the float emulation), which is other
    arithmetic than the table's literal chain: such a chain was 'rewritten' into other bytes."""
    nodes = [*_q("x", "a", "0"), *_q("a", "b", "1"), helper.make_node("Mul", ["b", "w"], ["m"]), *_q("m", "y", "0")]
    model = _single(nodes, [_const("w", np.array([1.0, -1.0], np.float32).reshape(1, 2, 1, 1))],
                    {"x": [1, 2, "H", "W"]})
    _same(model, {"x": np.linspace(-6, 6, 48, dtype=np.float32).reshape(1, 2, 4, 6)})


@pytest.mark.parametrize("opset", [11, 13, 14])
def test_a_graph_of_an_opset_before_shapes_with_start_and_end_is_rewritten_into_a_valid_one(opset):
    model = _single(_SCALED, [_const("w", RNG.normal(size=(1, 4, 1, 1)).astype(np.float32))],
                    {"x": [1, 4, "H", "W"]}, opset=opset)
    assert _same(model, {"x": RNG.normal(0, 3, (1, 4, 6, 5)).astype(np.float32)}) == ["table for 4 steps after d_q"]


def test_pads_with_a_constant_value_input_or_an_attribute_are_left_where_they_are():
    pads = _const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1]))
    with_value = _single([*_q("x", "d", "0"), helper.make_node("Pad", ["d", "pads", "cv"], ["y"], mode="reflect")],
                         [pads, _const("cv", np.float32(0))], {"x": [1, 4, "H", "W"]})
    assert _same(with_value, {"x": RNG.normal(0, 3, (1, 4, 6, 5)).astype(np.float32)}) == []
    as_attribute = _single([*_q("x", "d", "0"), helper.make_node("Pad", ["d"], ["y"], mode="reflect",
                                                                  pads=[0, 0, 1, 1, 0, 0, 1, 1])], [],
                           {"x": [1, 4, "H", "W"]}, opset=10)
    rewritten, made = lookup_graph(as_attribute)
    assert made == [] and _ops(rewritten) == _ops(as_attribute)


def test_names_the_rewrite_would_make_that_the_graph_has_get_others_and_a_second_pass_changes_nothing():
    nodes = [helper.make_node("Identity", ["x"], ["lookup0/shape"]),
             helper.make_node("Identity", ["x"], ["d_on_8_bits"]),
             *_q("x", "a", "0"), helper.make_node("Mul", ["a", "w"], ["m"]), *_q("m", "n", "1"),
             helper.make_node("Add", ["n", "lookup0/shape"], ["s"]),
             helper.make_node("Add", ["s", "d_on_8_bits"], ["y"])]
    model = _single(nodes, [_const("w", RNG.normal(size=(1, 4, 1, 1)).astype(np.float32))],
                    {"x": [1, 4, "H", "W"]})
    feeds = {"x": RNG.normal(0, 3, (1, 4, 6, 5)).astype(np.float32)}
    assert _same(model, feeds) == ["table for 4 steps after a_q"]
    once, _ = lookup_graph(model)
    twice, made = lookup_graph(once)
    assert made == [] and twice.SerializeToString() == once.SerializeToString()


def test_an_exact_form_is_also_held_to_the_same_bytes_in_a_batch_and_in_one_pass(tmp_path):
    """The script compared an exact form on single whole pictures only: a batch of two tiles with their
    own contexts (the path where a table must keep each image's numbers) and whole.onnx were held to
    nothing stricter than the server's load checks."""
    from skimage import data

    from tessera.registry import published_files, write_version

    photos = [("astronaut", data.astronaut()), ("coffee", data.coffee())]
    assert graph_form_version.other_path_problems(STYLE / "3", STYLE / "4", photos) == []
    # v4 with its first table's level index one level off, in both graphs
    manifest, files = published_files(STYLE / "4")
    for name in ("model.onnx", "whole.onnx"):
        model = onnx.load(str(files[name]))
        (zero,) = [i for i in model.graph.initializer if i.name == "lookup0/index_zero_point"]
        zero.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(zero) + np.uint8(1), zero.name))
        files[name] = tmp_path / name
        onnx.save(model, str(files[name]))
    off = tmp_path / "any-painting-best" / str(write_version(tmp_path, "any-painting-best", files, manifest))
    assert graph_form_version.other_path_problems(STYLE / "3", off, photos) == [
        "a batch of two pictures: not the same bytes", "astronaut in one pass (whole.onnx): not the same bytes",
        "coffee in one pass (whole.onnx): not the same bytes"]


def test_shape_inference_that_gives_up_leaves_the_working_directory_as_it_was(tmp_path, monkeypatch):
    """ONNX Runtime's symbolic shape inference writes the model into the working directory before it raises
    on a graph it cannot infer whole (sym_shape_infer_temp.onnx and external data files were left in the
    checkout); the rewrite then falls back to onnx's inference."""
    from trainer import onnx_lookup

    def gives_up(model, **_):
        onnx.save_model(model, "sym_shape_infer_temp.onnx")
        raise RuntimeError("Incomplete symbolic shape inference")

    monkeypatch.setattr(onnx_lookup.SymbolicShapeInference, "infer_shapes", staticmethod(gives_up))
    monkeypatch.chdir(tmp_path)
    nodes, inits = _norm("x", "y")
    model = _model(nodes, inits, channels=CHANNELS // 4)
    rewritten, made = lookup_graph(model)
    assert list(tmp_path.iterdir()) == []
    feeds = _feeds()
    assert np.array_equal(_run(rewritten, feeds), _run(model, feeds))
