"""Centring a version's stem (trainer/centre_stem.py): the centred pair paints what the original paints in
fp32, carries the mean colour in 3 more context places, and graphs where centring would not be exact
are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference_server.conditioned_version import is_conditioned, probe_code
from inference_server.probe_tiles import low_contrast, photo_like
from inference_server.runtime.onnx_runtime import OnnxRuntime
from inference_server.version_checks import context_row, model_input
from scripts.local_stack import ROOT
from tessera.onnx_session import open_session
from tessera.registry import read_manifest
from trainer.centre_stem import CENTRE_WIDTH, CentreStemError, centre_stem

pytestmark = pytest.mark.timeout(120)
REGISTRY = ROOT / "model_registry"


def _pair(version_dir: Path, tmp_path: Path) -> tuple[OnnxRuntime, OnnxRuntime]:
    """The version's generator and context model, centred, on ONNX Runtime fp32."""
    generator, context = centre_stem(onnx.load(str(version_dir / "model.onnx")),
                                     onnx.load(str(version_dir / "context.onnx")))
    onnx.save(generator, str(tmp_path / "model.onnx"))
    onnx.save(context, str(tmp_path / "context.onnx"))
    return OnnxRuntime(tmp_path / "model.onnx", threads=1), OnnxRuntime(tmp_path / "context.onnx", threads=1,
                                                                          output="context")


def _paint(generator: OnnxRuntime, context: OnnxRuntime, version_dir: Path, tile: np.ndarray) -> np.ndarray:
    manifest = read_manifest(version_dir)
    code = probe_code(manifest)[0] if is_conditioned(manifest) else None  # teacher-26 paints its first preset
    row = context_row(context, tile, manifest.tiling, code)
    return generator.execute(model_input(tile, manifest.tiling)[None], row[None])


def _original(version_dir: Path) -> tuple[OnnxRuntime, OnnxRuntime]:
    return (OnnxRuntime(version_dir / "model.onnx", threads=1),
            OnnxRuntime(version_dir / "context.onnx", threads=1, output="context"))


@pytest.mark.parametrize("version", ["teacher-26/3", "umber-oil/11", "blue-swirls/13"])
def test_the_centred_pair_paints_photos_as_the_original_does(version, tmp_path):
    version_dir = REGISTRY / version
    centred, original = _pair(version_dir, tmp_path), _original(version_dir)
    for tile in (photo_like(160, 200, seed=1), low_contrast(photo_like(160, 200, seed=2), 8)):
        np.testing.assert_allclose(_paint(*centred, version_dir, tile), _paint(*original, version_dir, tile),
                                   atol=2e-3)


def test_the_context_carries_the_mean_colour_of_what_the_stem_convolves(tmp_path):
    version_dir = REGISTRY / "umber-oil" / "11"
    generator, context = _pair(version_dir, tmp_path)
    width = OnnxRuntime(version_dir / "model.onnx", threads=1).context_size()
    assert generator.context_size() == width + CENTRE_WIDTH
    tile = np.zeros((64, 64, 3), np.uint8)
    tile[..., 0], tile[..., 2] = 255, 128
    row = context_row(context, tile, read_manifest(version_dir).tiling)
    assert row.shape == (width + CENTRE_WIDTH,)
    np.testing.assert_allclose(row[-3:], [1.0, 0.0, 128 / 255], atol=1e-5)  # the stem sees the picture in [0, 1]


def _toy(pad_mode: str | None = "reflect", conv_pads: int = 0, context_width: int | None = 4) -> tuple:
    """A generator (image, context -> stylized) and a context model (thumbnail -> context) whose stem is a
    3x3 convolution, padded by a Pad node in `pad_mode` or by the convolution's own `conv_pads`, and a
    norm's mean subtraction before its ReLU."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 3, 3, 3], np.ones(81, np.float32))
    pads = helper.make_tensor("p", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])

    def graph(picture: str, output_nodes: list, inputs: list, outputs: list) -> onnx.ModelProto:
        nodes = [helper.make_node("Pad", [picture, "p"], ["padded"], mode=pad_mode)] if pad_mode else []
        nodes.append(helper.make_node("Conv", ["padded" if pad_mode else picture, "w"], ["conv"],
                                      pads=[conv_pads] * 4))
        nodes += output_nodes
        made = helper.make_graph(nodes, "g", inputs, outputs, initializer=[weight, pads])
        return helper.make_model(made, opset_imports=[helper.make_opsetid("", 17)])

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])
    thumbnail = helper.make_tensor_value_info("thumbnail", TensorProto.FLOAT, [1, 3, "h", "w"])
    context_in = helper.make_tensor_value_info("context", TensorProto.FLOAT, ["n", context_width or "k"])
    norm = [helper.make_node("ReduceMean", ["conv"], ["mean"], axes=[2, 3], keepdims=1),
             helper.make_node("Sub", ["conv", "mean"], ["normed"])]
    generator = graph("image", norm + [helper.make_node("Relu", ["normed"], ["stylized"])], [image, context_in],
                      [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, ["n", 3, "h", "w"])])
    context = graph("thumbnail", norm + [helper.make_node("Relu", ["normed"], ["r"]),
                                         helper.make_node("ReduceMean", ["r"], ["m"], axes=[2, 3], keepdims=0),
                                  helper.make_node("Concat", ["m", "m"], ["cat"], axis=1),
                                  helper.make_node("Identity", ["cat"], ["context"])],
                    [thumbnail], [helper.make_tensor_value_info("context", TensorProto.FLOAT, [1, 6])])
    return generator, context


@pytest.mark.parametrize("pad_mode", ["reflect", "constant", None])
def test_a_padded_stem_is_centred_exactly(pad_mode):
    """Whatever pads the picture before the convolution, the subtraction comes after it, so the centred
    toy pair gives the original's output; its context is 3 wider, ending with the mean colour."""
    original = _toy(pad_mode)
    centred = centre_stem(*original)
    rng = np.random.default_rng(0)
    picture = rng.uniform(0.2, 0.9, (1, 3, 12, 16)).astype(np.float32)

    def paint(generator: onnx.ModelProto, context: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray]:
        row = open_session(context.SerializeToString(), 1).run(None, {"thumbnail": picture})[0]
        # The toy generator takes 4 context values (7 once centred: the mean colour is the context's last 3).
        feed = row[:, :4] if row.shape[1] == 6 else np.concatenate([row[:, :4], row[:, -3:]], axis=1)
        return open_session(generator.SerializeToString(), 1).run(None, {"image": picture, "context": feed})[0], row

    (before, row_before), (after, row_after) = paint(*original), paint(*centred)
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert row_after.shape == (1, row_before.shape[1] + CENTRE_WIDTH)
    padded = picture if pad_mode is None else np.pad(picture, ((0, 0), (0, 0), (1, 1), (1, 1)),
                                                     mode="reflect" if pad_mode == "reflect" else "constant")
    np.testing.assert_allclose(row_after[0, -3:], padded.mean(axis=(2, 3))[0], atol=1e-6)


def test_a_centred_stem_is_not_centred_again():
    with pytest.raises(CentreStemError, match="centred already"):
        centre_stem(*centre_stem(*_toy()))


@pytest.mark.parametrize(("toy", "reason"), [
    (dict(pad_mode=None, conv_pads=1), "pads with zeros"),
    (dict(context_width=None), "no fixed width"),
])
def test_a_stem_where_centring_is_not_exact_is_refused(toy, reason):
    with pytest.raises(CentreStemError, match=reason):
        centre_stem(*_toy(**toy))


def test_a_stem_without_a_norm_is_refused():
    """any-painting's stem is a convolution and a ReLU: the ReLU would see the constant taken off."""
    version_dir = REGISTRY / "any-painting" / "4"
    with pytest.raises(CentreStemError, match="without a norm"):
        centre_stem(onnx.load(str(version_dir / "model.onnx")), onnx.load(str(version_dir / "context.onnx")))


def test_a_generator_without_a_context_input_is_refused():
    generator, context = _toy()
    del generator.graph.input[1]
    with pytest.raises(CentreStemError, match="no 'context' input"):
        centre_stem(generator, context)
