"""What an operator's trial of the publishing commands found: each checks where it writes before any
work, says in one line what is wrong, prints where it really wrote, cleans up after killed writers and
notes a version that repeats the newest (docs/export.md)."""

import contextlib
import io
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from tessera.registry import RegistryError, StyleMeta, Tiling, write_style_meta
from tessera.tiling import MAX_THUMBNAIL_SIZE
from tests.trainer.conftest import tiny_flags, write_images
from trainer.cli import main
from trainer.networks import define_G
from trainer.onnx_export import ExportError
from trainer.publish import check_thumbnail_size
from trainer.registry_writes import check_style_meta

PUBLISHING = ("export", "reexport", "import-cyclegan", "import-teacher", "export-conditioned", "fit-critic")


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A 4-step compact run exported twice as style 'tiny' into an existing registry; before the second
    export a killed writer's staging folder (2 hours old) and a live one sit in the style folder."""
    root = tmp_path_factory.mktemp("publish")
    photos = write_images(root / "photos", 3, size=(64, 48), seed=5)
    negatives = write_images(root / "negatives", 3, size=(64, 48), seed=5, transform=lambda a: 255 - a)
    run = root / "run"
    code, _, err = _run_main(["train", "--data-a", str(photos), "--data-b", str(negatives), "--steps", "4",
                              "--run-dir", str(run), *tiny_flags(netG="compact")])
    assert code == 0, err
    registry = root / "registry"
    registry.mkdir()
    export = ["export", str(run), "--registry", str(registry), "--style", "tiny"]
    first = _run_main(export)
    assert first[0] == 0, first[2]
    dead, live = registry / "tiny" / ".tmp-dead", registry / "tiny" / ".tmp-live"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half a model")
    two_hours_ago = time.time() - 7200
    for path in (dead / "model.onnx", dead):
        os.utime(path, (two_hours_ago, two_hours_ago))
    second = _run_main(export)
    assert second[0] == 0, second[2]
    return {"root": root, "run": run, "photos": photos, "registry": registry, "first": first[1],
            "second": second[1], "dead": dead, "live": live}


@pytest.fixture(scope="module")
def cyclegan_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cyclegan") / "latest_net_G.pth"
    torch.save(define_G("resnet_6blocks", norm="batch", ngf=8, seed=1).state_dict(), path)
    return path


def _argv(command: str, published: dict, checkpoint: Path, registry: Path, style: str) -> list[str]:
    """A command line of ``command`` that publishes into ``registry`` as ``style`` (reexport: the style
    of its source version)."""
    where = ["--registry", str(registry)]
    return {
        "export": ["export", str(published["run"]), *where, "--style", style],
        "reexport": ["reexport", str(published["registry"] / "tiny" / "1"), *where],
        "import-cyclegan": ["import-cyclegan", str(checkpoint), *where, "--style", style, "--arch", "resnet_6blocks",
                            "--norm", "batch"],
        "import-teacher": ["import-teacher", "multistyle26", *where, "--style", style],
        "export-conditioned": ["export-conditioned", str(published["run"]), *where, "--style", style],
        "fit-critic": ["fit-critic", *where, "--style", style, "--photos", str(published["photos"]), "--targets",
                       str(published["photos"]), "--steps", "1", "--run-dir", str(published["root"] / "critic")],
    }[command]


def _one_clear_line(err: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err and "Errno" not in err, err


@pytest.mark.parametrize("command", PUBLISHING)
def test_every_publishing_command_refuses_a_registry_that_does_not_exist(published, cyclegan_checkpoint, command):
    missing = published["root"] / "no-such-registry"
    code, out, err = _run_main(_argv(command, published, cyclegan_checkpoint, missing, "tiny"))
    assert code == 2 and "wrote" not in out
    _one_clear_line(err)
    assert f"registry {missing} does not exist" in err
    assert not missing.exists()


@pytest.mark.parametrize("command", [c for c in PUBLISHING if c != "reexport"])  # reexport keeps its style
def test_a_style_id_with_a_trailing_newline_is_refused_before_anything_is_written(tmp_path, published,
                                                                                   cyclegan_checkpoint, command):
    (tmp_path / "reg").mkdir()
    code, _, err = _run_main(_argv(command, published, cyclegan_checkpoint, tmp_path / "reg", "tiny\n"))
    assert code == 2
    _one_clear_line(err)
    assert "'tiny\\n' is not a style id: 1 to 64 lower-case letters" in err
    assert list((tmp_path / "reg").iterdir()) == []


def test_a_line_separator_in_a_style_text_is_refused_before_the_export_work(tmp_path, published):
    """U+2028 passed the early check (control characters only) and was refused by the registry after the
    export, leaving an empty style folder."""
    (tmp_path / "reg").mkdir()
    code, out, err = _run_main(["export", str(published["run"]), "--registry", str(tmp_path / "reg"), "--style",
                                "tiny", "--description", "a\u2028b"])
    assert code == 2 and "wrote" not in out
    _one_clear_line(err)
    assert "--description 'a\\u2028b' must not hold control characters or line breaks" in err
    assert list((tmp_path / "reg").iterdir()) == []


@pytest.mark.parametrize("text", ["a\nb", "a\x1bb", "a\u2028b", "a\u2029b"])
def test_the_early_style_text_check_refuses_what_the_registry_refuses(tmp_path, text):
    with pytest.raises(RegistryError) as early:
        check_style_meta({"credits": text})
    assert str(early.value).startswith(f"--credits {text!r} ")
    with pytest.raises(RegistryError, match="style.json: credits: must not hold control characters"):
        write_style_meta(tmp_path, StyleMeta(id="tiny", display_name="Tiny", credits=text))
    assert check_style_meta({"credits": "a\u00a0b \u00e9"}) is None  # printable text passes both


def test_a_new_style_folder_in_an_existing_registry_is_fine(published):
    assert (published["registry"] / "tiny" / "1" / "model.onnx").is_file()
    assert published["first"].strip().endswith(f"wrote {published['registry'] / 'tiny' / '1'}")


def test_reexport_prints_the_version_folder_it_wrote_in_another_registry(published, tmp_path):
    other = tmp_path / "reexp-reg"
    other.mkdir()
    code, out, err = _run_main(["reexport", str(published["registry"] / "tiny" / "1"), "--registry", str(other)])
    assert code == 0, err
    assert out.strip().splitlines()[-1] == f"wrote {other / 'tiny' / '1'}"
    assert (other / "tiny" / "1" / "manifest.json").is_file()


def test_reexport_of_a_version_named_from_inside_its_style_folder_goes_into_that_registry(published, tmp_path,
                                                                                        monkeypatch):
    registry = tmp_path / "registry"
    shutil.copytree(published["registry"] / "tiny" / "1", registry / "tiny" / "1")
    monkeypatch.chdir(registry / "tiny")
    code, out, err = _run_main(["reexport", "1"])
    assert code == 0, err
    assert out.strip().splitlines()[-1] == f"wrote {Path('..') / 'tiny' / '2'}"
    assert sorted(p.name for p in (registry / "tiny").iterdir()) == ["1", "2", "style.json"]


@pytest.mark.parametrize(("argv", "message"), [
    (["export", "{run}", "--registry", "{registry}/tiny/1/manifest.json", "--style", "tiny"],
     "registry {registry}/tiny/1/manifest.json is a file, not a folder"),
    (["reexport", "{registry}/tiny/99"], "{registry}/tiny/99 is not a registry version folder: no such folder"),
    (["reexport", "{registry}/tiny"], "{registry}/tiny holds no manifest.json: not a registry version folder"),
    (["export-conditioned", "{run}", "--registry", "{registry}", "--style", "x", "--teacher", "{registry}/x/1"],
     "{registry}/x/1 is not a registry version folder: no such folder"),
    (["fit-critic", "--registry", "{registry}", "--style", "tiny", "--version", "9", "--photos", "{run}",
      "--targets", "{run}", "--run-dir", "{run}"], "style tiny has no version 9; its versions are 1, 2"),
])
def test_bad_paths_get_a_worded_line_not_a_python_error(published, argv, message):
    paths = {"run": published["run"], "registry": published["registry"]}
    code, _, err = _run_main([a.format(**paths) for a in argv])
    assert code == 2
    _one_clear_line(err)
    assert message.format(**paths) in err


def test_exporting_the_same_run_again_notes_the_repeat_and_still_writes_it(published):
    assert "byte-identical" not in published["first"]
    assert "note: version 2's model files are byte-identical to version 1's" in published["second"]
    assert (published["registry"] / "tiny" / "2" / "manifest.json").is_file()


def test_the_next_publish_removes_a_killed_writers_staging_folder_but_not_a_live_one(published):
    assert not published["dead"].exists()
    assert f"note: removed {published['dead']}, left by a writer that did not finish" in published["second"]
    assert (published["live"] / "model.onnx").is_file()


def test_a_checkpoint_step_the_run_lacks_is_refused_with_the_steps_it_has(published, tmp_path):
    code, _, err = _run_main(["export", str(published["run"]), "--checkpoint", "3", "--registry", str(tmp_path),
                              "--style", "tiny"])
    assert code == 2
    _one_clear_line(err)
    assert f"{published['run']} has no checkpoint at step 3; its numbered checkpoints are at steps 2, 4" in err


@pytest.mark.parametrize("command", ["export", "evaluate", "export-conditioned"])
def test_a_checkpoint_that_is_not_a_number_is_a_bad_flag(published, tmp_path, capsys, command):
    argv = [command, str(published["run"]), "--checkpoint", "abc"]
    if command != "evaluate":
        argv += ["--registry", str(tmp_path), "--style", "tiny"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "argument --checkpoint: 'abc' is not a step number" in capsys.readouterr().err


@pytest.mark.parametrize("size", [15, 16, MAX_THUMBNAIL_SIZE, MAX_THUMBNAIL_SIZE + 1])
def test_publishing_takes_exactly_the_thumbnail_sizes_a_manifest_may_hold(size):
    try:
        Tiling(halo=0, size_multiple=1, thumbnail_size=size)
        manifest_holds = True
    except ValueError:  # pydantic's ValidationError
        manifest_holds = False
    try:
        check_thumbnail_size(size)
        published = True
    except ExportError:
        published = False
    assert published == manifest_holds


def test_import_teacher_refuses_a_thumbnail_the_manifest_cannot_hold_before_any_work(tmp_path, monkeypatch):
    """It took up to 1024 px, past the manifest's bound, and failed only when writing the version."""
    from trainer import import_cin

    monkeypatch.setattr(import_cin, "import_network", lambda *_, **__: pytest.fail("imported a network first"))
    code, _, err = _run_main(["import-teacher", "arbitrary", "--registry", str(tmp_path), "--thumbnail-size", "1024"])
    assert code == 2
    _one_clear_line(err)
    assert f"thumbnail size must be 16 to {MAX_THUMBNAIL_SIZE} px, got 1024 (--thumbnail-size)" in err
