"""Resuming a run continues exactly: the losses of every step equal those of an uninterrupted run."""

import pytest
import torch

from trainer import runs
from trainer.cli import main


@pytest.mark.parametrize("kind, settings", [
    # Dropout exercises the reseeded RNG; batch norm, Adam state and the scheduler carry over too.
    ("pix2pix", {"use_dropout": True, "norm": "batch", "lr_decay_start": 2}),
    # The image pool's contents and coin flips must carry over as well.
    ("cyclegan", {"netG": "compact", "pool_size": 3, "norm": "instance"}),
    # Spectral norm's power-iteration vectors are state too.
    ("cyclegan", {"netG": "compact", "pool_size": 3, "norm": "instance", "netD": "projected",
                  "diffaug": "color,translation,cutout"}),
])
def test_resume_gives_identical_losses(tmp_path, paired_dirs, tiny, kind, settings):
    data = ["--kind", kind, "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1])]
    run_dir = tmp_path / "run"
    assert main(["train", *data, "--steps", "6", "--run-dir", str(run_dir), *tiny(**settings)]) == 0
    uninterrupted = runs.read_losses(run_dir)
    # Pretend the run died after step 4: its newest checkpoint is the one from step 4.
    checkpoints = run_dir / "checkpoints"
    (checkpoints / "step_0000004.pt").replace(checkpoints / "latest.pt")
    assert main(["resume", str(run_dir), "--no-progress"]) == 0
    resumed = runs.read_losses(run_dir)
    assert [r["step"] for r in resumed] == list(range(6))
    assert resumed == uninterrupted


def test_resume_of_a_finished_run_says_how_to_train_longer(tmp_path, paired_dirs, tiny, capsys):
    run_dir = tmp_path / "run"
    main(["train", "--data-ab", str(paired_dirs[0]), "--steps", "2", "--run-dir", str(run_dir), *tiny()])
    assert main(["resume", str(run_dir), "--no-progress"]) == 2
    assert "already at step 2 of 2; pass --steps N" in capsys.readouterr().err


def test_resume_of_a_folder_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_runs_from_before_the_upsample_setting_resume_with_pixel_shuffle(tmp_path, paired_dirs, tiny):
    run_dir = tmp_path / "run"
    main(["train", "--data-ab", str(paired_dirs[0]), "--steps", "2", "--run-dir", str(run_dir),
          *tiny(netG="compact", upsample="shuffle")])
    path = run_dir / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=False)
    del state["config"]["upsample"], state["net_args"]["G"]["upsample"]  # as such checkpoints were written
    torch.save(state, path)
    assert runs.load_generator(run_dir)[0].upsample == "shuffle"
    assert main(["resume", str(run_dir), "--steps", "3", "--no-progress"]) == 0
