"""`tessera stylize FOLDER`: every photo is restyled by the version its first photo was (as a clip's frames
are), whatever the registry does meanwhile, and a photo whose version has been retired says so by number.
The registry changes once the first result is written, before the second photo is sent: deterministic."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from tessera import cli
from tessera.admin_client import AdminClient
from tests.support.images import assert_same_up_to_rounding
from tests.support.server_here import server_here
from tests.support.tiny_model import TinyGenerator, whole_image_reference, write_tiny_version

STYLE = "swirls"
TOKEN = "folder-versions"
NAMES = ["a.png", "b.png", "c.png"]


@pytest.fixture
def photos(tmp_path):
    """A folder of three photos, and the registry: STYLE v1 and a style one letter from it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed, name in enumerate(NAMES):
        pixels = np.random.default_rng(seed).integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    write_tiny_version(tmp_path / "registry", STYLE, tmp_path, seed=0)
    write_tiny_version(tmp_path / "registry", "swirl", tmp_path, seed=5)
    return folder


def run_folder(photos, out, monkeypatch, change) -> int:
    """`tessera stylize photos -o out`, calling `change(admin)` once its first result is written."""
    registry = photos.parent / "registry"
    real_write, written = cli.write_whole, []

    def write_whole(path, data):
        real_write(path, data)
        if not written:
            written.append(change(registry, admin))

    monkeypatch.setattr(cli, "write_whole", write_whole)
    with server_here(registry, TOKEN) as address, AdminClient(address, TOKEN) as admin:
        return cli.main(["stylize", str(photos), "-o", str(out), "--style", STYLE, "--server", address])


def publish(registry, admin) -> None:
    write_tiny_version(registry, STYLE, registry.parent, seed=1)
    assert next(s for s in admin.reload() if s.id == STYLE).serving_version == 2


def test_a_folder_keeps_every_photo_on_its_first_photos_version(photos, tmp_path, monkeypatch, capsys):
    """With a pin (or a new version) during the run, photos came out v14, v13, v13 without a word."""
    out = tmp_path / "out"
    assert run_folder(photos, out, monkeypatch, publish) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", ")[1] for line in lines[:-1]] == [f"style {STYLE} v1"] * len(NAMES), lines
    assert lines[-1] == f"3 of 3 images restyled into {out} with style {STYLE} v1"
    for name in NAMES:
        pixels = np.asarray(Image.open(photos / name))
        result = np.asarray(Image.open(out / name.replace(".png", f"-{STYLE}.png")))
        assert_same_up_to_rounding(result, whole_image_reference(TinyGenerator(0), pixels))


def test_a_folder_whose_style_is_removed_finishes_on_the_draining_version(photos, tmp_path, monkeypatch, capsys):
    def remove(registry, admin):
        shutil.rmtree(registry / STYLE)
        admin.reload()

    out = tmp_path / "out"
    assert run_folder(photos, out, monkeypatch, remove) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"3 of 3 images restyled into {out} with style {STYLE} v1"


def test_a_photo_whose_version_was_retired_fails_naming_the_version_not_a_typo(photos, tmp_path, monkeypatch,
                                                                                 capsys):
    def retire(registry, admin):
        monkeypatch.setattr("inference_server.model_store.REMOVED_DRAIN_MAX_S", 0.0)  # its drain is over
        shutil.rmtree(registry / STYLE)
        admin.reload()

    out = tmp_path / "out"
    assert run_folder(photos, out, monkeypatch, retire) == 1
    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        f"tessera: {photos / name}: version 1 of style {STYLE}, which this folder's first photo was restyled with "
        "and the rest are held to, has been retired and is no longer served; run the command again for the "
        "photos left, on the version serving now" for name in NAMES[1:]]
    assert printed.out.splitlines()[-1] == f"1 of 3 images restyled into {out} with style {STYLE} v1"
