"""What an operator's trial of train, resume and the commands that read checkpoints found: bad input
leaves no run behind, and a file that is not a checkpoint is one clear line (docs/training.md)."""

import pytest
from PIL import Image

from tests.trainer.conftest import astronaut
from trainer import runs
from trainer.cli import main


def _train(tmp_path, tiny, run_dir, *data: str) -> int:
    return main(["train", *data, "--steps", "1", "--run-dir", str(run_dir), *tiny()])


def test_a_train_stopped_by_a_missing_data_folder_leaves_no_run_directory(tmp_path, tiny, paired_dirs, capsys):
    run = tmp_path / "runs" / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(tmp_path / "nope"), "--data-b", str(paired_dirs[1])) == 2
    assert "data folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # the parent it created goes too
    assert main(["resume", str(run)]) == 2  # nothing there to resume, as before the train


def test_a_train_stopped_in_its_loop_by_a_damaged_image_leaves_no_run_directory(tmp_path, tiny, paired_dirs, capsys):
    """Images are read in the loop, after its log and report are written: the run folder it made was kept
    with those and no config (a review)."""
    for image in list(paired_dirs[0].glob("*.png")):
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG's signature, then nothing readable
    run = tmp_path / "runs" / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1])) == 2
    capsys.readouterr()
    assert not (tmp_path / "runs").exists()


def test_a_train_stopped_by_unmatched_pairs_leaves_no_run_directory(tmp_path, tiny, paired_dirs, capsys):
    (paired_dirs[1] / "img00.png").rename(paired_dirs[1] / "other.png")
    run = tmp_path / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1])) == 2
    assert "paired folders do not match" in capsys.readouterr().err
    assert not run.exists()


def test_a_failed_train_keeps_another_run_started_meanwhile_in_the_folder_it_created(tmp_path, tiny, paired_dirs,
                                                                                      monkeypatch):
    """Two trainings in a fresh checkout: both find runs/ missing, and the one failing on its data removed
    runs/ whole, with the other's live run inside."""
    other = tmp_path / "runs" / "other"
    prepare = runs.prepare

    def prepare_then_another_run_starts(run_dir, cfg):
        prepare(run_dir, cfg)
        (other / "checkpoints").mkdir(parents=True)
        (other / "checkpoints" / "latest.pt").write_bytes(b"the other run's")

    monkeypatch.setattr(runs, "prepare", prepare_then_another_run_starts)
    run = tmp_path / "runs" / "p1"
    assert _train(tmp_path, tiny, run, "--data-a", str(tmp_path / "nope"), "--data-b", str(paired_dirs[1])) == 2
    assert (other / "checkpoints" / "latest.pt").read_bytes() == b"the other run's"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["other"]  # its own folder went


def test_discarding_an_unstarted_run_removes_empty_parents_up_to_the_created_one_only(tmp_path):
    """The run folder this run made goes with all in it (its logs); above it, only folders left empty, up to
    the outermost one it made, and never one holding another run."""
    (tmp_path / "a" / "keep.txt").parent.mkdir()
    (tmp_path / "a" / "keep.txt").write_text("mine")
    run = tmp_path / "a" / "b" / "c" / "run"
    created = runs.topmost_missing(run)
    assert created == tmp_path / "a" / "b"
    for sub in ("checkpoints", "samples"):
        (run / sub).mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "losses.jsonl").write_text("{}\n")
    (tmp_path / "a" / "b" / "c" / "other").mkdir()  # another run, started meanwhile
    runs.discard_unstarted(run, created)
    assert not run.exists() and (tmp_path / "a" / "b" / "c" / "other").is_dir()
    (tmp_path / "a" / "b" / "c" / "other").rmdir()
    run.mkdir()
    runs.discard_unstarted(run, created)
    assert not (tmp_path / "a" / "b").exists() and (tmp_path / "a" / "keep.txt").read_text() == "mine"


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
