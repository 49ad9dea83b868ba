"""Factorising a version's first convolution (trainer/factorise.py): the algebra is exact where the
responses have the rank asked for, a shipped student factorised at rank 16 paints as its parent, loads
in the server and still splits after its stem, and a rank that paints too differently publishes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from skimage import data

from inference_server.model_version import LoadSettings, load_version
from scripts.local_stack import ROOT
from tessera.onnx_session import open_session
from tests.test_stem_split import assert_head_then_tail_is_whole
from trainer.factorise import (
    FactoriseError,
    apply_factors,
    conv_patches,
    factorise_version,
    first_conv,
    response_factors,
)

pytestmark = pytest.mark.timeout(300)
SHIPPED = ROOT / "model_registry"


def _conv_model(weight: np.ndarray, bias: np.ndarray, stride: int) -> onnx.ModelProto:
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, weight.shape[1], "h", "w"])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, weight.shape[0], "oh", "ow"])
    conv = helper.make_node("Conv", ["image", "w", "b"], ["conv"], name="stem", kernel_shape=list(weight.shape[2:]),
                            strides=[stride, stride])
    graph = helper.make_graph([conv, helper.make_node("Relu", ["conv"], ["out"])], "g", [image], [out],
                              initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, image: np.ndarray) -> np.ndarray:
    return open_session(model.SerializeToString(), 1).run(None, {"image": image})[0]


def test_responses_of_rank_r_are_reproduced_exactly_at_rank_r():
    """A 5x5 stride-2 convolution 3 -> 12 whose weight has rank 4: four factors lose nothing, bias included."""
    rng = np.random.default_rng(0)
    weight = (rng.normal(size=(12, 4)) @ rng.normal(size=(4, 75))).reshape(12, 3, 5, 5).astype(np.float32)
    bias = rng.normal(size=12).astype(np.float32)
    image = rng.uniform(0, 1, (1, 3, 41, 37)).astype(np.float32)
    factors = response_factors(weight.astype(np.float64), bias.astype(np.float64),
                               conv_patches(image, 5, 2, keep=10_000), rank=4)
    assert factors.reduce.shape == (4, 3, 5, 5) and factors.expand.shape == (12, 4, 1, 1)
    model = _conv_model(weight, bias, 2)
    factorised = apply_factors(model, "conv", factors)
    assert [n.op_type for n in factorised.graph.node] == ["Conv", "Conv", "Relu"]
    np.testing.assert_allclose(_run(factorised, image), _run(model, image), atol=1e-4)


def test_a_lower_rank_than_the_responses_have_is_an_approximation_not_a_copy():
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(8, 3, 3, 3))
    image = rng.uniform(0, 1, (1, 3, 20, 20)).astype(np.float32)
    factors = response_factors(weight, None, conv_patches(image, 3, 1, keep=1000), rank=4)
    model = _conv_model(weight.astype(np.float32), np.zeros(8, np.float32), 1)
    assert not np.allclose(_run(apply_factors(model, "conv", factors), image), _run(model, image), atol=1e-3)


def test_a_weight_another_convolution_shares_is_kept_for_it():
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 8, "oh", "ow"]) for name in ("b", "out")]
    nodes = [helper.make_node("Conv", ["image", "w"], ["a"], kernel_shape=[3, 3]),
             helper.make_node("Conv", ["image", "w"], ["b"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["a"], ["out"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [image], outs, [numpy_helper.from_array(weight, "w")]),
                              opset_imports=[helper.make_opsetid("", 17)])
    x = rng.uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)
    factors = response_factors(weight.astype(np.float64), None, conv_patches(x, 3, 1, keep=500), rank=7)
    factorised = apply_factors(model, "a", factors)
    assert "w" in {i.name for i in factorised.graph.initializer}
    np.testing.assert_array_equal(_run(factorised, x), _run(model, x))  # "b", the convolution left as it was


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_flat_pictures_are_reproduced_exactly_at_any_rank(level):
    """Their normalised stem output is 0 over a tiny spread, which would blow any error up (teacher-26
    painted NaN on a flat probe tile before flat responses were kept)."""
    rng = np.random.default_rng(2)
    weight, bias = rng.normal(size=(16, 3, 5, 5)), rng.normal(size=16)
    photo_like = rng.uniform(0, 1, (1, 3, 30, 30)).astype(np.float32)
    factors = response_factors(weight, bias, conv_patches(photo_like, 5, 1, keep=1000), rank=4)
    model = _conv_model(weight.astype(np.float32), bias.astype(np.float32), 1)
    flat = np.full((1, 3, 12, 12), level, np.float32)
    np.testing.assert_allclose(_run(apply_factors(model, "conv", factors), flat), _run(model, flat), atol=1e-5)


@pytest.mark.parametrize("rank", [0, 3, 8, 9])
def test_a_rank_that_would_not_thin_the_convolution_or_keep_flat_pictures_is_refused(rank):
    with pytest.raises(FactoriseError, match="rank must be 4 to 7 for a convolution with 3 inputs and 8 outputs"):
        response_factors(np.ones((8, 3, 3, 3)), None, np.ones((10, 27)), rank)


def test_conv_patches_are_the_windows_the_convolution_multiplies():
    padded = np.arange(2 * 6 * 7, dtype=np.float32).reshape(1, 2, 6, 7)
    patches = conv_patches(padded, 3, 2, keep=100)
    assert patches.shape == (2 * 3, 2 * 3 * 3)  # rows 0, 2 (of 4 positions: 0..3) x cols 0, 2, 4
    np.testing.assert_array_equal(patches[1], padded[0, :, 0:3, 2:5].ravel())


def _photos(folder: Path, names: list[str], edge: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for name in names:
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        image.thumbnail((edge, edge))
        paths.append(folder / f"{name}.png")
        image.save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    return (_photos(root / "fit", ["astronaut", "coffee", "chelsea"], 384),
            _photos(root / "check", ["rocket", "immunohistochemistry"], 512))


@pytest.fixture(scope="module")
def factorised_student(tmp_path_factory, photos):
    """vermilion/10 (fp32 student, context model and critic) factorised at rank 16 into a copy of its style."""
    registry = tmp_path_factory.mktemp("registry")
    shutil.copytree(SHIPPED / "vermilion", registry / "vermilion",
                    ignore=lambda d, names: [n for n in names if n.isdigit() and n != "10"])
    number = factorise_version(registry / "vermilion" / "10", 16, *photos, log=lambda _: None)
    return registry / "vermilion" / str(number)


def test_a_factorised_student_paints_as_its_parent_and_says_what_it_is(factorised_student):
    manifest = json.loads((factorised_student / "manifest.json").read_text())
    facts = manifest["training"]["factorisation"]
    assert factorised_student.name == "11" and manifest["training"]["factorised_from"] == "vermilion/10"
    assert facts["rank"] == 16 and facts["outputs"] == 64 and facts["psnr_to_parent_db_min"] >= 45
    assert facts["tiled_vs_whole_psnr_db"] >= 60  # still tile-safe, measured afresh
    parent = factorised_student.parent / "10"
    for carried in ("context.onnx", "critic.onnx"):
        assert (factorised_student / carried).read_bytes() == (parent / carried).read_bytes()
    convs = [n for n in onnx.load(factorised_student / "model.onnx").graph.node if n.op_type == "Conv"]
    stem, expand = convs[0], convs[1]
    weights = {i.name: list(i.dims) for i in onnx.load(factorised_student / "model.onnx").graph.initializer}
    assert weights[stem.input[1]] == [16, 3, 10, 10] and weights[expand.input[1]] == [64, 16, 1, 1]


def test_the_server_loads_a_factorised_student_and_its_stem_still_splits(factorised_student):
    loaded = load_version(factorised_student, LoadSettings(threads=1))
    try:
        assert loaded.version == 11
    finally:
        loaded.retire()
    assert assert_head_then_tail_is_whole(factorised_student / "model.onnx").shape[1] == 64


def test_a_rank_that_paints_too_differently_publishes_nothing(tmp_path, photos):
    shutil.copytree(SHIPPED / "vermilion", tmp_path / "vermilion",
                    ignore=lambda d, names: [n for n in names if n.isdigit() and n != "10"])
    with pytest.raises(FactoriseError, match=r"under the 45 dB floor; try a higher rank"):
        factorise_version(tmp_path / "vermilion" / "10", 4, *photos, log=lambda _: None)
    assert sorted(p.name for p in (tmp_path / "vermilion").iterdir() if p.is_dir()) == ["10"]


def test_a_conditioned_teachers_one_pass_and_context_models_get_the_same_factors(tmp_path, photos):
    """teacher-26 ships whole.onnx, which the server serves only while it agrees with the two passes, and a
    context model starting with the same convolution, whose statistics must match the tiles' to the last
    bit on flat probe tiles."""
    shutil.copytree(SHIPPED / "teacher-26", tmp_path / "teacher-26",
                    ignore=lambda d, names: [n for n in names if n.isdigit() and n != "2"])
    number = factorise_version(tmp_path / "teacher-26" / "2", 16, *photos, log=lambda _: None)
    version = tmp_path / "teacher-26" / str(number)
    for name in ("model.onnx", "whole.onnx", "context.onnx"):
        first = first_conv(onnx.load(version / name))
        assert first.name.endswith(".reduce"), name
    loaded = load_version(version, LoadSettings(threads=1))  # whole.onnx is checked against the two passes
    try:
        assert loaded.version == number and loaded.whole_runtime is not None
    finally:
        loaded.retire()


def test_the_command_says_when_there_are_no_photos(tmp_path):
    done = subprocess.run([sys.executable, "-m", "trainer", "factorise", str(SHIPPED / "vermilion" / "10"),
                           "--rank", "16", "--fit-photos", str(tmp_path / "nothing")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "factorise: data folder" in done.stderr and "does not exist" in done.stderr
