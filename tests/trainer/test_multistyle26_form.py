"""multistyle26 exported from PyTorch in the students' serving form (trainer/multistyle26_form.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tessera import registry
from tessera.pixels import rgb8_to_nchw, signed_to_rgb8
from tests.trainer.conftest import astronaut
from trainer import cin_models
from trainer.cin_student import CinStudentError, teacher_tables
from trainer.multistyle26_form import STYLES, multistyle26_network


@pytest.fixture(scope="module")
def tables() -> dict[str, np.ndarray]:
    return teacher_tables(cin_models.wheel_models() / "multistyle26.onnx")


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> dict[str, cin_models.CinRunner]:
    """The serving form and the graph surgery's files of the same network."""
    runners = {}
    for name, surgery in (("serving", False), ("surgery", True)):
        folder = tmp_path_factory.mktemp(name)
        facts = cin_models.build(cin_models.MULTISTYLE26, folder, surgery_form=surgery)
        assert facts["context_stats"] == 990 and facts["code_size"] == STYLES
        runners[name] = cin_models.CinRunner(folder)
        runners[name].folder = folder
    return runners


def _two_pass(runner: cin_models.CinRunner, rgb8: np.ndarray, code: np.ndarray) -> np.ndarray:
    return runner.runner(runner.context(rgb8, code))(rgb8_to_nchw(rgb8))


def _mix(*weights: tuple[int, float]) -> np.ndarray:
    code = np.zeros(STYLES, np.float32)
    for style, weight in weights:
        code[style] = weight
    return code


def test_the_network_paints_the_wheels_network(tables):
    rgb8 = astronaut(96, 72)
    code = _mix((4, 0.7), (19, 0.3))
    with torch.no_grad():
        ours = multistyle26_network(tables)(torch.from_numpy(rgb8_to_nchw(rgb8)), torch.from_numpy(code)[None])
    wheel = ort.InferenceSession(str(cin_models.wheel_models() / "multistyle26.onnx"),
                                 providers=["CPUExecutionProvider"])
    theirs = wheel.run(None, {"image": (rgb8.astype(np.float32) / 255).transpose(2, 0, 1)[None],
                              "style_weights": code})[0]
    assert np.abs((ours.numpy() + 1) / 2 - theirs).max() < 1e-4


def test_other_tables_are_refused():
    with pytest.raises(CinStudentError, match="multistyle26"):
        multistyle26_network({"conv.w": np.zeros((1, 1, 1, 1), np.float32)})


def test_the_serving_form_runs_the_decoder_at_low_resolution(forms):
    """What makes it fast: no x2 Resize (the decoder's 3x3 convolutions run at the lower resolution), the
    9x9 output convolution as a stride-2 10x10 one on the phase form, and the 32-channel stem as it is
    (trainer.cin_student.PHASE_STEM_MAX_CHANNELS)."""
    graph = onnx.load(str(forms["serving"].folder / "model.onnx")).graph
    weights = {i.name: list(i.dims) for i in graph.initializer}
    convs = [(weights[n.input[1]], [list(a.ints) for a in n.attribute if a.name == "strides"][0])
             for n in graph.node if n.op_type == "Conv"]
    assert not [n for n in graph.node if n.op_type == "Resize"]
    assert sum(n.op_type == "DepthToSpace" for n in graph.node) == 3
    assert ([12, 4, 10, 10], [2, 2]) in convs and ([32, 3, 9, 9], [1, 1]) in convs
    assert [shape for shape, _ in convs if shape[2] == 9] == [[32, 3, 9, 9]]


@pytest.mark.parametrize("size", [(200, 148), (96, 96), (60, 44)])
def test_the_serving_form_paints_the_surgery_forms_photos(forms, size):
    rgb8 = astronaut(*size)
    code = _mix((11, 1.0))
    far, db = registry.agreement(*(_two_pass(forms[name], rgb8, code) for name in ("serving", "surgery")))
    assert far == 0.0 and db > 60.0


@pytest.mark.parametrize("grey", [0, 128, 255])
def test_a_flat_picture_gets_the_exact_norms_answer(forms, tables, grey):
    """A flat picture's every layer is flat, so every instance norm gives its shift: float64 PyTorch's
    answer, which the serving form gives (its flat-channel rule, trainer/thumb_norm.py), while the surgery
    form amplifies float32 rounding by up to 1/sqrt(eps) (four levels of blue on mid-grey)."""
    rgb8 = np.full((48, 64, 3), grey, np.uint8)
    code = _mix((0, 1.0))
    with torch.no_grad():
        exact = multistyle26_network(tables).double()(torch.from_numpy(rgb8_to_nchw(rgb8)).double(),
                                                      torch.from_numpy(code)[None].double()).numpy()
    served = _two_pass(forms["serving"], rgb8, code)
    assert np.abs(served - exact).max() * 127.5 < 0.05


@pytest.mark.parametrize("picture", ["photo", "flat", "noisy grey"])
def test_one_pass_gives_the_two_passes_pixels(forms, picture):
    """whole.onnx, the context model and model.onnx do the same arithmetic on the same maps (the context
    collected on the serving form; every norm one multiply-add, trainer.thumb_norm), so an image that is
    its own thumbnail gets the same bytes in one pass as in two."""
    rng = np.random.default_rng(3)
    rgb8 = {"photo": astronaut(128, 96), "flat": np.full((96, 128, 3), 77, np.uint8),
            "noisy grey": np.clip(128 + rng.integers(-2, 3, (96, 128, 3)), 0, 255).astype(np.uint8)}[picture]
    runner = forms["serving"]
    for code in (_mix((2, 1.0)), _mix((5, 0.5), (23, 0.5))):
        one = runner.whole.run(None, {registry.INPUT_NAME: rgb8_to_nchw(rgb8),
                                      registry.STYLE_CODE_INPUT: code[None]})[0]
        assert np.array_equal(signed_to_rgb8(one), signed_to_rgb8(_two_pass(runner, rgb8, code)))  # bytes served



def test_import_records_the_form_and_the_export_figures(tmp_path: Path):
    from trainer import import_cin

    version = import_cin.import_network(cin_models.MULTISTYLE26, tmp_path, log=lambda *_: None)
    manifest = registry.read_manifest(tmp_path / "teacher-26" / str(version))
    assert manifest.training["form"] == "pytorch serving form"
    assert manifest.export["model_max_abs_diff"] < 1e-4 and manifest.export["whole_max_abs_diff"] < 1e-4
    assert manifest.export["tiled_vs_whole_psnr_db"] >= 50
