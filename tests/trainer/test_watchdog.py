"""Training health: the watchdog notices a discriminator that wins outright, non-finite losses and collapse,
and the run says what it did (run_report.json, health.jsonl); TensorBoard event files and realism maps."""

import json

import torch
from PIL import Image

from trainer.cli import main
from trainer.config import TrainConfig
from trainer.watchdog import Watchdog, diversity

# A deliberately unstable run: the discriminator learns 50 times faster than the generator. Its loss
# falls under the floor with spikes above it, so the step where a whole window first stays under
# depends on the CPU's float kernels: with seeds 0-11 it came at steps 21-42 on an AVX2 EPYC (seed 0,
# this run's, at 38; within 40 steps on the AVX-512 Xeons before). 80 steps leave room on any CPU;
# the run usually stops at its second event long before.
UNSTABLE = ["--norm", "instance", "--lr", "0.00002", "--lr-d", "0.001", "--batch-size", "2", "--steps", "80",
            "--watch-window", "6", "--watch-d-floor", "0.1", "--watch-every", "10", "--watch-max-rollbacks", "1"]


def test_a_discriminator_fifty_times_faster_is_caught_rolled_back_and_reported(paired_dirs, tiny, tmp_path, capsys):
    run = tmp_path / "run"
    a, b = paired_dirs
    code = main(["train", "--data-a", str(a), "--data-b", str(b), "--run-dir", str(run), *UNSTABLE,
                 *tiny(sample_every=5, checkpoint_every=5)])
    report = json.loads((run / "run_report.json").read_text())
    first = report["events"][0]
    assert first["problem"] == "discriminator_wins" and first["action"] == "rolled_back"
    assert "the discriminator is winning outright" in first["message"]
    assert report["rollbacks"] == 1 and report["lr_scale"] == 0.5
    health = [json.loads(line) for line in (run / "health.jsonl").read_text().splitlines()]
    assert health == report["events"]
    # A second time the run stops (watch_max_rollbacks 1) and says why on one line; or it recovers and finishes.
    if report["finished"]:
        assert code == 0
    else:
        assert code == 2 and report["events"][-1]["action"] == "stopped"
        assert "winning outright" in capsys.readouterr().err
    # The losses log holds no step twice: the rolled-back steps were dropped and trained again.
    steps = [json.loads(line)["step"] for line in (run / "losses.jsonl").read_text().splitlines()]
    assert steps == list(range(len(steps)))

    # Sample grids: input | output | target | the critic's realism map of the output.
    with Image.open(sorted((run / "samples").iterdir())[0]) as grid:
        assert grid.width == 4 * 32
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    board.Reload()
    assert {"loss/D_real", "loss/D_fake", "loss/G_GAN", "loss/G_recon"} <= set(board.Tags()["scalars"])
    assert {"samples", "realism"} <= set(board.Tags()["images"])


def test_a_non_finite_loss_stops_the_run_with_a_clear_message(paired_dirs, tiny, tmp_path, capsys):
    run = tmp_path / "run"
    a, b = paired_dirs
    code = main(["train", "--data-a", str(a), "--data-b", str(b), "--run-dir", str(run), "--steps", "3",
                 "--lambda-recon", "1e39", *tiny()])
    assert code == 2
    err = capsys.readouterr().err
    assert "loss G_recon is not finite" in err and "no healthy checkpoint" in err and "Traceback" not in err
    report = json.loads((run / "run_report.json").read_text())
    assert not report["finished"] and report["events"][0]["problem"] == "non_finite"


def test_collapse_is_outputs_that_no_longer_depend_on_the_input():
    gen = torch.Generator().manual_seed(0)
    varied = torch.rand(4, 3, 16, 16, generator=gen)
    same = varied[:1].repeat(4, 1, 1, 1) + 1e-4 * torch.rand(4, 3, 16, 16, generator=gen)
    assert diversity(varied) > 0.5 and diversity(same) < 0.01
    assert diversity(varied * 1e-6) > 0.5  # a fresh generator's tiny outputs are not collapse
    cfg = TrainConfig(watch_window=4, watch_every=2, watch_min_diversity=0.05)
    dog = Watchdog(cfg, ("D_real",), ("G_GAN",))
    assert not dog.checks_diversity(0) and dog.checks_diversity(3)
    problem, message = dog.check_diversity(3, diversity(same))
    assert problem == "collapse" and "collapsing" in message
    assert dog.check_diversity(3, diversity(varied)) is None
