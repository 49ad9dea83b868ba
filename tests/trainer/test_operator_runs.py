"""What an operator's trial of train, resume and the commands that read checkpoints found: bad input
leaves no run behind, and a file that is not a checkpoint is one clear line (docs/training.md)."""

import pytest
from PIL import Image

from tests.trainer.conftest import astronaut
from trainer.cli import main


def _train(tmp_path, tiny, run_dir, *data: str) -> int:
    return main(["train", *data, "--steps", "1", "--run-dir", str(run_dir), *tiny()])


def test_a_train_stopped_by_a_missing_data_folder_leaves_no_run_directory(tmp_path, tiny, paired_dirs, capsys):
    run = tmp_path / "runs" / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(tmp_path / "nope"), "--data-b", str(paired_dirs[1])) == 2
    assert "data folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # the parent it created goes too
    assert main(["resume", str(run)]) == 2  # nothing there to resume, as before the train


def test_a_train_stopped_by_unmatched_pairs_leaves_no_run_directory(tmp_path, tiny, paired_dirs, capsys):
    (paired_dirs[1] / "img00.png").rename(paired_dirs[1] / "other.png")
    run = tmp_path / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1])) == 2
    assert "paired folders do not match" in capsys.readouterr().err
    assert not run.exists()


def test_a_failed_train_in_an_existing_folder_removes_only_what_it_wrote(tmp_path, tiny, paired_dirs):
    run = tmp_path / "p1"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert _train(tmp_path, tiny, run, "--data-a", str(tmp_path / "nope"), "--data-b", str(paired_dirs[1])) == 2
    assert [p.name for p in run.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("command", [["resume"], ["export", "--registry", "{tmp}", "--style", "x"],
                                     ["evaluate"]])
def test_a_run_whose_checkpoint_is_not_one_gets_one_clear_line(tmp_path, capsys, command):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    Image.fromarray(astronaut(64, 48)).save(run / "checkpoints" / "latest.pt", format="JPEG")
    argv = [command[0], str(run), *[a.format(tmp=tmp_path) for a in command[1:]]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{run / 'checkpoints' / 'latest.pt'} is not a PyTorch checkpoint" in err
