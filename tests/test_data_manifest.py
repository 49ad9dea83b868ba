"""The data layout of `make data`: hold-out photos stay out of training, the manifest records provenance.

These tests build small images in a temp folder; they need neither the Debian packages nor data/.
"""

import json
import subprocess

import pytest
from PIL import Image

from scripts import install_data
from scripts.install_data import Source


def _image(path, size, mode="RGB", color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGBA":
        color = (*color, 0)  # fully transparent: must come out white
    Image.new(mode, size, color).save(path)
    return str(path)


@pytest.fixture
def sources(tmp_path):
    src = tmp_path / "src"
    return [
        Source("pkg-a:sea", "pkg-a", _image(src / "sea.png", (2048, 1024)), "GPL-2.0-or-later", "photo"),
        Source("pkg-a:tree", "pkg-a", _image(src / "tree.png", (300, 200)), "GPL-2.0-or-later", "photo"),
        Source("pkg-b:cat", "pkg-b", _image(src / "cat.png", (64, 64)), "CC0-1.0", "photo"),
        Source("pkg-c:hill", "pkg-c", "/in/package/hill.jpg", "GPL-2.0-or-later", "painting",
               local_path=_image(src / "unpacked" / "hill.jpg", (640, 480))),
        Source("pkg-d:animals/fox", "pkg-d", _image(src / "fox.png", (256, 256), "RGBA"), "Public domain",
               "cartoon"),
    ]


def test_holdout_photos_go_to_holdout_and_never_to_train(tmp_path, sources):
    data = tmp_path / "data"
    entries = install_data.install(sources, data, ["pkg-b:cat"], max_side=512)

    assert sorted(p.name for p in (data / "photos/holdout").iterdir()) == ["pkg-b--cat.jpg"]
    assert sorted(p.name for p in (data / "photos/train").iterdir()) == ["pkg-a--sea.jpg", "pkg-a--tree.jpg"]
    assert {e["id"]: e["split"] for e in entries if e["kind"] == "photo"} == {
        "pkg-a:sea": "train", "pkg-a:tree": "train", "pkg-b:cat": "holdout"}


def test_images_are_rgb_and_downscaled_to_max_side(tmp_path, sources):
    data = tmp_path / "data"
    entries = {e["id"]: e for e in install_data.install(sources, data, [], max_side=512)}

    with Image.open(data / entries["pkg-a:sea"]["path"]) as im:
        assert (im.mode, im.size) == ("RGB", (512, 256))
    assert entries["pkg-a:tree"]["size"] == [300, 200]  # small images are not upscaled
    with Image.open(data / entries["pkg-d:animals/fox"]["path"]) as im:
        assert min(im.getpixel((128, 128))) >= 250  # transparency flattened onto white


def test_manifest_records_package_source_path_and_licence(tmp_path, sources):
    data = tmp_path / "data"
    entries = install_data.install(sources, data, ["pkg-b:cat"], max_side=512)
    install_data.write_manifest(data, entries, {"pkg-a": "1.0"})

    doc = json.loads((data / "manifest.json").read_text())
    hill = next(e for e in doc["images"] if e["id"] == "pkg-c:hill")
    assert hill == {"id": "pkg-c:hill", "package": "pkg-c", "source_path": "/in/package/hill.jpg",
                    "license": "GPL-2.0-or-later", "kind": "painting",
                    "path": "paintings/wesnoth/pkg-c--hill.jpg", "size": [512, 384], "split": "train"}
    assert doc["counts"] == {"photos/train": 2, "photos/holdout": 1, "paintings/wesnoth": 1, "cartoons": 1}
    assert doc["packages"] == {"pkg-a": "1.0"}


def test_second_run_converts_nothing_again(tmp_path, sources):
    data = tmp_path / "data"
    first = install_data.install(sources, data, [], max_side=512)
    install_data.write_manifest(data, first, {})
    stamps = {p: p.stat().st_mtime_ns for p in data.rglob("*.jpg")}

    second = install_data.install(sources, data, [], max_side=512, previous=install_data.read_manifest(data))

    assert second == first
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*.jpg")} == stamps


def test_photo_moved_to_holdout_leaves_the_training_folder(tmp_path, sources):
    data = tmp_path / "data"
    install_data.install(sources, data, [], max_side=512)
    install_data.install(sources, data, ["pkg-a:tree"], max_side=512)

    assert not (data / "photos/train/pkg-a--tree.jpg").exists()
    assert (data / "photos/holdout/pkg-a--tree.jpg").exists()


def test_unknown_holdout_id_is_an_error_that_names_it(tmp_path, sources):
    with pytest.raises(ValueError, match="pkg-z:nothing"):
        install_data.install(sources, tmp_path / "data", ["pkg-b:cat", "pkg-z:nothing"], max_side=512)


def test_committed_holdout_list_spans_all_three_photo_packages():
    holdout = install_data.read_holdout()
    packages = {h.split(":", 1)[0] for h in holdout}
    assert len(holdout) == len(set(holdout)) >= 6
    assert packages == {"scikit-image", "plasma-workspace-wallpapers", "mate-backgrounds"}


def test_story_paintings_go_to_their_own_folder_and_skip_listed_files_and_subfolders(tmp_path):
    story = tmp_path / "unpacked" / "campaigns" / "X" / "images" / "story"
    for name in ("scene.jpg", "logo.png", "l10n/fr/title.png"):
        _image(story / name, (300, 200))
    sources = install_data.painting_sources(story, "wesnoth-1.16-x", "campaigns/X/images/story", "story",
                                            skip=("logo",))

    assert [(s.id, s.source_path, s.kind) for s in sources] == [
        ("wesnoth-1.16-x:scene", "/campaigns/X/images/story/scene.jpg", "story")]
    entries = install_data.install(sources, tmp_path / "data", [], max_side=512)
    assert [e["path"] for e in entries] == ["paintings/wesnoth-story/wesnoth-1.16-x--scene.jpg"]


def test_campaign_story_selection_names_six_campaign_packages():
    assert set(install_data.CAMPAIGN_STORY) == {f"wesnoth-1.16-{c}" for c in ("did", "httt", "l", "trow", "tsg", "ttb")}


def test_unpack_package_dir_reads_only_the_asked_folder_of_a_downloaded_deb(tmp_path):
    root = tmp_path / "pkg"
    _image(root / "usr/share/x/story/hill.jpg", (64, 48))
    _image(root / "usr/share/x/other/face.png", (64, 48))
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text("Package: fake-story\nVersion: 1.0\nArchitecture: all\n"
                                          "Maintainer: t <t@example.org>\nDescription: test\n")
    work = tmp_path / "work"
    work.mkdir()
    # a .deb already in the work folder is used as is: apt-get download is not run again
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(work / "fake-story_1.0_all.deb")],
                   check=True, capture_output=True)

    out = install_data.unpack_package_dir(work, "fake-story", "usr/share/x/story")

    assert out == work / "usr/share/x/story"
    assert sorted(p.name for p in out.iterdir()) == ["hill.jpg"]
    assert not (work / "usr/share/x/other").exists()


def test_installed_paintings_are_reused_and_missing_ones_fetched_again(tmp_path):
    data = tmp_path / "data"
    entry = {"id": "p:a", "package": "p", "source_path": "/s/a.jpg", "license": "GPL-2.0-or-later",
             "kind": "story", "path": "paintings/wesnoth-story/p--a.jpg"}
    fetched = []

    def fetch():
        fetched.append(True)
        return ["fetched"]

    assert install_data._installed_or({entry["path"]: entry}, data, "story", fetch) == ["fetched"]
    _image(data / entry["path"], (8, 8))
    reused = install_data._installed_or({entry["path"]: entry}, data, "story", fetch)
    assert [s.id for s in reused] == ["p:a"] and len(fetched) == 1
