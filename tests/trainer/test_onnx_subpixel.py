"""The sub-pixel form of an exported graph (trainer/onnx_subpixel.py): each rewrite computes what its
pattern computes, patterns that would not stay exact are left alone, and the shipped any-painting-best
v3 is v2 in that form."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.paths import RawRun
from scripts import graph_form_version
from scripts.local_stack import ROOT
from tessera.onnx_session import open_session
from tessera.registry import WHOLE_MAX_FAR_FRACTION, WHOLE_MIN_PSNR_DB, agreement, read_manifest
from trainer.onnx_subpixel import subpixel_graph

pytestmark = pytest.mark.timeout(180)
STYLE = ROOT / "model_registry" / "any-painting-best"
RNG = np.random.default_rng(7)
SCALE, ZERO = 0.05, -3  # an activation quantisation of the tests' graphs


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _graph(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], channels: int = 4) -> onnx.ModelProto:
    """A model from `nodes` reading x [1, channels, H, W] and writing y (float)."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits + [_const("q_scale", np.float32(SCALE)), _const("q_zero", np.int8(ZERO))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _conv(name: str, inputs: list[str], output: str, out_ch: int, in_ch: int, kernel: int,
          inits: list[onnx.TensorProto]) -> onnx.NodeProto:
    inits += [_const(f"{name}_w", RNG.normal(0, 0.2, (out_ch, in_ch, kernel, kernel)).astype(np.float32)),
              _const(f"{name}_b", RNG.normal(0, 0.1, out_ch).astype(np.float32))]
    return helper.make_node("Conv", [*inputs, f"{name}_w", f"{name}_b"], [output], kernel_shape=[kernel, kernel])


def _quantise(src: str, out: str, scale: str = "q_scale") -> list[onnx.NodeProto]:
    return [helper.make_node("QuantizeLinear", [src, scale, "q_zero"], [f"{out}_q"]),
            helper.make_node("DequantizeLinear", [f"{out}_q", scale, "q_zero"], [out])]


def _upsampling(requantised_with: str | None) -> onnx.ModelProto:
    """x -> [Q -> DQ] -> nearest x2 -> reflect pad 1 -> [Q -> DQ] -> conv 3x3 -> y."""
    inits = [_const("scales", np.array([1, 1, 2, 2], np.float32)), _const("pads", np.array([0, 0, 1, 1] * 2))]
    nodes = _quantise("x", "xq") if requantised_with else []
    nodes += [helper.make_node("Resize", ["xq" if requantised_with else "x", "", "scales"], ["up"], mode="nearest",
                               coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
              helper.make_node("Pad", ["up", "pads"], ["padded"], mode="reflect")]
    if requantised_with:
        inits.append(_const("other_scale", np.float32(0.07)))
        nodes += _quantise("padded", "padded_q", requantised_with)
    nodes.append(_conv("c", ["padded_q" if requantised_with else "padded"], "y", 5, 4, 3, inits))
    return _graph(nodes, inits)


def _output_convolution(quantised: bool, upsampled: bool = True) -> onnx.ModelProto:
    """x -> [nearest x2] -> reflect pad 4 -> conv 9x9 -> y, or -> ReLU -> Q -> DQ -> y."""
    inits = [_const("pads", np.array([0, 0, 4, 4] * 2)), _const("scales", np.array([1, 1, 2, 2], np.float32))]
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor")] if upsampled else []
    nodes.append(helper.make_node("Pad", ["up" if upsampled else "x", "pads"], ["padded"], mode="reflect"))
    if quantised:
        nodes += [_conv("c", ["padded"], "conv", 3, 4, 9, inits), helper.make_node("Relu", ["conv"], ["relu"]),
                  *_quantise("relu", "y")]
    else:
        nodes.append(_conv("c", ["padded"], "y", 3, 4, 9, inits))
    return _graph(nodes, inits)


def _requantised_pad(mode: str) -> onnx.ModelProto:
    """x -> Q -> DQ -> pad 1 -> Q -> DQ (the same parameters) -> resize by 1 -> conv 3x3 -> y."""
    inits = [_const("pads", np.array([0, 0, 1, 1] * 2)), _const("ones", np.ones(4, np.float32))]
    nodes = [*_quantise("x", "xq"), helper.make_node("Pad", ["xq", "pads"], ["padded"], mode=mode),
             *_quantise("padded", "padded_q"),
             helper.make_node("Resize", ["padded_q", "", "ones"], ["same"], mode="nearest"),
             _conv("c", ["same"], "y", 4, 4, 3, inits)]
    return _graph(nodes, inits)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return open_session(model.SerializeToString(), threads=1).run(None, {"x": x})[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _picture(height: int = 24, width: int = 36) -> np.ndarray:
    return RNG.uniform(-1, 1, (1, 4, height, width)).astype(np.float32)


@pytest.mark.parametrize("requantised_with", [None, "q_scale"])
def test_an_upsampling_becomes_one_low_resolution_convolution_with_the_same_output(requantised_with):
    model = _upsampling(requantised_with)
    rewritten, made = subpixel_graph(model)
    assert made == ["upsampling y"]
    assert "Resize" not in _ops(rewritten) and _ops(rewritten)[-1] == "DepthToSpace"
    assert _ops(rewritten).count("QuantizeLinear") == (1 if requantised_with else 0)  # only the input's
    for height, width in ((24, 36), (7, 5)):  # any size: no phase form of the input
        x = _picture(height, width)
        np.testing.assert_allclose(_run(rewritten, x), _run(model, x), atol=2e-5)


def test_an_upsampling_requantised_with_other_parameters_is_left_alone():
    """Quantising the padded map with another scale rounds it: the pair is not an identity to skip."""
    model = _upsampling("other_scale")
    rewritten, made = subpixel_graph(model)
    assert made == [] and _ops(rewritten) == _ops(model)


def test_an_unquantised_output_convolution_becomes_a_strided_phase_convolution():
    model = _output_convolution(quantised=False)
    rewritten, made = subpixel_graph(model)
    assert made == ["output convolution y"]
    conv = next(n for n in rewritten.graph.node if n.op_type == "Conv")
    attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    assert attributes["kernel_shape"] == [10, 10] and attributes["strides"] == [2, 2]
    x = _picture()
    np.testing.assert_allclose(_run(rewritten, x), _run(model, x), atol=2e-5)


def test_an_output_convolution_whose_input_may_have_odd_sides_is_left_alone():
    """The phase form needs even sides; a map read straight from the picture may have odd ones."""
    model = _output_convolution(quantised=False, upsampled=False)
    rewritten, made = subpixel_graph(model)
    assert made == [] and _ops(rewritten) == _ops(model)


def test_an_upsampling_whose_steps_the_graph_hands_out_is_left_alone():
    model = _upsampling("q_scale")
    model.graph.output.append(helper.make_tensor_value_info("padded", TensorProto.FLOAT, None))
    rewritten, made = subpixel_graph(model)
    assert made == [] and _ops(rewritten) == _ops(model)


def test_a_pad_requantised_with_the_same_numbers_of_another_type_is_no_identity():
    """A uint8 zero point 0 and an int8 one are equal as numbers, not as quantisations."""
    model = _requantised_pad("reflect")
    model.graph.initializer.append(_const("u_zero", np.uint8(0)))
    first_dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear")
    first_q = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    first_q.input[2] = first_dq.input[2] = "u_zero"
    rewritten, made = subpixel_graph(model)
    assert made == ["identity same"] and _ops(rewritten).count("QuantizeLinear") == 2


def test_a_convolution_whose_output_is_quantised_is_left_alone():
    """Its sums in another order could round a midpoint the other way, and every later layer with it."""
    model = _output_convolution(quantised=True)
    rewritten, made = subpixel_graph(model)
    assert made == [] and _ops(rewritten) == _ops(model)


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_a_pad_requantised_as_it_was_fed_and_a_resize_by_one_drop_out_bit_for_bit(mode):
    model = _requantised_pad(mode)
    rewritten, made = subpixel_graph(model)
    assert made == ["identity same", "identity padded_q"]
    assert _ops(rewritten) == ["QuantizeLinear", "DequantizeLinear", "Pad", "Conv"]
    x = _picture()
    assert np.array_equal(_run(rewritten, x), _run(model, x))


def test_a_constant_pad_is_not_an_identity_to_drop():
    model = _requantised_pad("constant")
    rewritten, made = subpixel_graph(model)
    assert made == ["identity same"] and _ops(rewritten).count("QuantizeLinear") == 2


def test_a_graph_without_the_patterns_comes_back_unchanged():
    inits: list[onnx.TensorProto] = []
    model = _graph([_conv("c", ["x"], "y", 4, 4, 3, inits)], inits)
    rewritten, made = subpixel_graph(model)
    assert made == [] and rewritten.SerializeToString() == model.SerializeToString()


def test_the_shipped_any_painting_best_v3_is_v2_in_sub_pixel_form():
    training = read_manifest(STYLE / "3").training
    assert training["subpixel_graph"] and training["reexported_from"] == "any-painting-best/2"
    source = onnx.load(str(STYLE / "2" / "model.onnx"))
    expected, made = subpixel_graph(source)
    assert [line for line in made if not line.startswith("identity")] == [
        "upsampling transformer/expand/conv1/conv/Conv2D_prequant",
        "upsampling transformer/expand/conv2/conv/Conv2D_prequant",
        "output convolution transformer/expand/conv3/conv/Conv2D_prequant"]
    shipped = onnx.load(str(STYLE / "3" / "model.onnx"))
    assert shipped.SerializeToString() == expected.SerializeToString()
    whole, _ = subpixel_graph(onnx.load(str(STYLE / "2" / "whole.onnx")))
    assert onnx.load(str(STYLE / "3" / "whole.onnx")).SerializeToString() == whole.SerializeToString()
    context, made = subpixel_graph(onnx.load(str(STYLE / "2" / "context.onnx")))
    # The same sums as the tiles' and whole.onnx's: its output convolution reads an upsampled map, even
    # sided whatever the thumbnail's sides.
    assert "output convolution transformer/expand/conv3/conv/Conv2D_prequant" in made
    assert onnx.load(str(STYLE / "3" / "context.onnx")).SerializeToString() == context.SerializeToString()
    # the pairs after 13 pads that requantise as they were fed, and after the two upsamplings' pads
    assert _ops(shipped).count("QuantizeLinear") == _ops(source).count("QuantizeLinear") - 13 - 2


def test_the_shipped_v3_paints_v2s_pixels_on_a_photo():
    from skimage import data

    photo = data.astronaut()[::2, ::2][:200, :248]  # 248 x 200, sides even as tiles' are
    far, db = agreement(RawRun(STYLE / "3", photo, threads=2)(), RawRun(STYLE / "2", photo, threads=2)())
    assert far <= WHOLE_MAX_FAR_FRACTION and db >= WHOLE_MIN_PSNR_DB


def test_the_script_refuses_a_version_in_sub_pixel_form_or_copied_so_and_an_unknown_one(capsys):
    assert graph_form_version.main(["--form", "subpixel", "--style", "any-painting-best", "--version", "3"]) == 1
    assert "any-painting-best v3 is in sub-pixel form already" in capsys.readouterr().err
    assert graph_form_version.main(["--form", "subpixel", "--style", "any-painting-best", "--version", "2"]) == 1
    assert "any-painting-best v3 is v2 in sub-pixel form already" in capsys.readouterr().err
    assert graph_form_version.main(["--form", "subpixel", "--style", "any-painting-best", "--version", "0"]) == 1
    assert "has no version 0" in capsys.readouterr().err
    assert graph_form_version.main(["--form", "subpixel", "--style", "no-such-style"]) == 1
    assert "no style 'no-such-style'" in capsys.readouterr().err


def test_the_script_publishes_only_from_the_newest_version(tmp_path, capsys):
    import shutil

    for number in ("1", "2"):
        shutil.copytree(STYLE / number, tmp_path / "any-painting-best" / number)
    args = ["--form", "subpixel", "--style", "any-painting-best", "--registry", str(tmp_path), "--version", "1",
            "--publish"]
    assert graph_form_version.main(args) == 1
    assert "v1 is not its newest version (v2)" in capsys.readouterr().err


def test_the_script_compares_on_photos_foggy_flat_and_noisy_pictures_and_the_form_loads(tmp_path, monkeypatch):
    from skimage import data

    monkeypatch.setattr(graph_form_version, "PHOTO_SIDE", 96)
    photos = [("astronaut", data.astronaut())]
    names = [name for name, _ in graph_form_version.pictures(photos)]
    assert names == ["astronaut", "astronaut in 8 levels", "astronaut in 4 levels", "flat 0", "flat 64", "flat 128",
                     "flat 191", "flat 255", "grey with 1-4 levels of noise"]
    rewritten, made = graph_form_version.rewritten_copy(STYLE / "2", tmp_path, graph_form_version.FORMS["subpixel"])
    assert any(line.startswith("context.onnx: output convolution") for line in made)
    problems, figures = graph_form_version.photo_figures(STYLE / "2", rewritten, photos)
    assert problems == [] and set(figures) == set(names)
    assert graph_form_version.load_problem(rewritten) is None
