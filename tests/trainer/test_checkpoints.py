"""A trainer checkpoint holds tensors and plain data only, so it is read with torch.load(weights_only=True):
what the trainer wrote loads and continues, an older checkpoint still loads, and a file holding another
pickled object is refused in one line without running it (docs/training.md)."""

import random

import numpy as np
import pytest
import torch

from trainer import critic_fit, runs
from trainer.cli import main


@pytest.fixture
def trained_run(tmp_path, paired_dirs, tiny):
    run = tmp_path / "run"
    data = ["--kind", "cyclegan", "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1])]
    assert main(["train", *data, "--steps", "2", "--run-dir", str(run), *tiny(netG="compact", pool_size=3)]) == 0
    return run


def _draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def test_a_checkpoint_the_trainer_wrote_loads_with_weights_only_and_round_trips(trained_run):
    path = runs.checkpoint_path(trained_run)
    plain = torch.load(path, map_location="cpu", weights_only=True)  # no globals allowed beyond torch's own
    state = runs.load_checkpoint(trained_run)
    assert state["step"] == plain["step"] == 2 and state["format"] == runs.CHECKPOINT_FORMAT
    assert all(torch.equal(state["nets"]["G_A"][k], v) for k, v in plain["nets"]["G_A"].items())
    generator = runs.load_generator(trained_run)[0]
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in plain["nets"]["G_A"].items())
    runs.restore_rng(state)
    first = _draws()
    runs.restore_rng(runs.load_checkpoint(trained_run))
    assert _draws() == first


def test_the_rng_states_a_checkpoint_keeps_restore_the_same_draws(tmp_path):
    saved = runs.rng_state()
    expected = _draws()
    torch.save({"rng": saved}, tmp_path / "rng.pt")
    runs.restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draws() == expected


def test_a_checkpoint_written_with_numpy_rng_state_as_an_array_still_loads(trained_run):
    """As checkpoints were written before the RNG states were plain data."""
    path = runs.checkpoint_path(trained_run)
    state = torch.load(path, weights_only=True)
    state["rng"]["numpy"] = np.random.get_state()  # its key a uint32 array
    torch.save(state, path)
    loaded = runs.load_checkpoint(trained_run)
    assert isinstance(loaded["rng"]["numpy"][1], np.ndarray)
    runs.restore_rng(loaded)
    assert main(["resume", str(trained_run), "--steps", "3", "--no-progress"]) == 0


class _OpensAFile:
    """Pickled as a call of open(): what a malicious 'checkpoint' would run on load."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_checkpoint_holding_a_pickled_object_is_refused_in_one_line_and_not_run(tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "ran"
    (run / "checkpoints").mkdir(parents=True)
    path = runs.checkpoint_path(run)
    torch.save({"format": runs.CHECKPOINT_FORMAT, "step": 0, "payload": _OpensAFile(marker)}, path)
    assert main(["resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path} is not a plain PyTorch checkpoint: it holds pickled Python objects besides tensors" in err
    assert not marker.exists()


def _tiny_examples() -> critic_fit.Examples:
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(2)]
    return critic_fit.Examples(photos, fakes=[p // 2 for p in photos], reals=photos, conditional=True, crop=16)


def test_a_critic_checkpoint_resumes_with_weights_only(tmp_path):
    critic_fit.fit(_tiny_examples(), tmp_path, steps=2, batch_size=2, log=lambda *_: None)
    saved = torch.load(tmp_path / "critic.pt", weights_only=True)
    assert saved["step"] == 2
    critic_fit.fit(_tiny_examples(), tmp_path, steps=3, batch_size=2, log=lambda *_: None)
    assert torch.load(tmp_path / "critic.pt", weights_only=True)["step"] == 3


def test_a_critic_checkpoint_holding_a_pickled_object_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"d": {}, "opt": {}, "step": 0, "payload": _OpensAFile(marker)}, tmp_path / "critic.pt")
    with pytest.raises(ValueError, match="critic.pt is not a plain critic checkpoint: it holds pickled Python objects"):
        critic_fit.fit(_tiny_examples(), tmp_path, steps=1, batch_size=2, log=lambda *_: None)
    assert not marker.exists()
