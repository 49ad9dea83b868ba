"""What the registry takes as a style or a version by its folder's name, the text of style.json that
people read, and what a scan logs about both: once each, with quoted paths."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from inference_server.model_store import ModelStore, StyleNotFound
from inference_server.model_version import LoadSettings, load_version
from inference_server.warm_up import WarmUp
from tessera.registry import STYLE_ID_RE, RegistryError, passed_over, read_style_meta, write_version
from tests.support.tiny_model import tiny_manifest, write_tiny_version

STYLE = "tiny"
LOGGER = "inference_server.model_store"


@pytest.fixture
def registry(tmp_path) -> Path:
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    return root


def _store(root: Path) -> ModelStore:
    store = ModelStore(root, lambda path: load_version(path, LoadSettings(threads=1, warm_up=WarmUp(max_runs=0))))
    store.refresh()
    return store


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.INFO]


def test_a_folder_name_ending_in_a_line_break_is_no_style_and_no_version(registry, caplog):
    """`$` matches before a final line break: 'tiny\\n' was served as a style (and listed over two lines)."""
    shutil.copytree(registry / STYLE, registry / "tiny\n")
    shutil.copytree(registry / STYLE / "1", registry / STYLE / "2\n")
    with caplog.at_level(logging.INFO, LOGGER):
        store = _store(registry)
    assert [s.meta.id for s in store.styles()] == [STYLE]
    assert list(store.styles()[0].versions) == [1] and not store.styles()[0].unloaded
    assert passed_over(registry, STYLE_ID_RE) == ["tiny\n"]
    said = _warnings(caplog)
    assert any("'tiny\\n' is not a valid style folder name" in line for line in said), said
    assert any("'2\\n' is not a valid version folder name" in line for line in said), said
    with pytest.raises(RegistryError, match="style id 'tiny\\\\n' must match"):
        write_version(registry, "tiny\n", {}, tiny_manifest())


def test_the_passed_over_sentence_states_the_style_id_rule(registry, caplog):
    """Underscores are allowed (my_style serves): the sentence said 'letters, digits and dashes'."""
    shutil.copytree(registry / STYLE, registry / "my_style")
    shutil.copytree(registry / STYLE, registry / "-dash")
    with caplog.at_level(logging.INFO, LOGGER):
        store = _store(registry)
    assert [s.meta.id for s in store.styles()] == ["my_style", STYLE]
    line = next(line for line in _warnings(caplog) if "'-dash' is not" in line)
    assert line.endswith("'-dash' is not a valid style folder name (a style id: 1 to 64 lower-case letters, digits, "
                         "dashes and underscores, starting with a letter or digit)"), line


@pytest.mark.parametrize(("field", "value", "says"), [
    ("display_name", "Line1\nLine2\x1b[31mRED", "style.json: display_name: must not hold control characters or line "
                                                "breaks ('\\n', '\\x1b' found)"),
    ("description", "one\u2028two", "style.json: description: must not hold control characters"),
    ("credits", 7, "style.json: credits: must be a string (got 7)"),
    ("pinned_version", True, "style.json: pinned_version: must be a positive integer or null (got True)"),
])
def test_style_json_text_people_read_is_refused_with_its_field(registry, field, value, says):
    path = registry / STYLE / "style.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    with pytest.raises(RegistryError) as caught:
        read_style_meta(registry / STYLE)
    assert str(caught.value).startswith(says), caught.value


def test_a_writer_cannot_publish_a_display_name_the_server_would_refuse(tmp_path):
    with pytest.raises(RegistryError, match="style.json: display_name: must not hold control characters"):
        write_version(tmp_path / "registry", STYLE, {}, tiny_manifest(), {"display_name": "Line1\nLine2"})


def test_an_invalid_style_json_and_a_style_removed_are_logged_once_each(registry, tmp_path, caplog):
    write_tiny_version(registry, "other", tmp_path)
    style_json = registry / STYLE / "style.json"
    good = style_json.read_text()
    with caplog.at_level(logging.INFO, LOGGER):
        store = _store(registry)
        style_json.write_text(json.dumps({**json.loads(good), "display_name": "Line1\nLine2"}))
        store.refresh()
        store.refresh()
        state = next(s for s in store.styles() if s.meta.id == STYLE)
        assert state.meta.display_name == "Tiny" and state.serving.version == 1  # the last valid style.json holds
        assert state.status_message().startswith("style.json: display_name: must not hold control characters")
        style_json.write_text(good)
        store.refresh()
        shutil.rmtree(registry / "other")
        store.refresh()
        store.refresh()
    said = _warnings(caplog)
    invalid = [line for line in said if "is invalid" in line]
    assert invalid == [f"registry: {str(style_json)!r} is invalid: style.json: display_name: must not hold control "
                       "characters or line breaks ('\\n' found)"], said
    assert [line for line in said if "valid again" in line] == [f"registry: {str(style_json)!r} is valid again"]
    removed = [line for line in said if "was removed" in line]
    assert removed == [f"registry: {str(registry / 'other')!r} was removed: style other no longer serves; its "
                       "versions are retired"], said
    assert [s.meta.id for s in store.styles()] == [STYLE]


def test_only_a_style_the_server_serves_can_be_pinned_or_unpinned(registry):
    """An Unpin named no version, so its style was never looked up: '../outside' got a style.json."""
    store = _store(registry)
    for name in ("../outside", "tiny\n", "nope"):
        with pytest.raises(StyleNotFound, match="unknown style"):
            store.pin(name, None)
    assert not (registry.parent / "outside").exists() and sorted(p.name for p in registry.iterdir()) == [STYLE]


@pytest.mark.parametrize("meta, manifest, says", [
    ({"description": "a\u2028b"}, tiny_manifest(), "style.json: description: must not hold control characters"),
    ({"credits": 3}, tiny_manifest(), "style.json: credits: must be a string"),
    (None, {**tiny_manifest(), "io": None}, "manifest.json: io"),
    (None, tiny_manifest(halo=100_000), "tiling.halo"),
    (None, {**tiny_manifest(), "artifacts": {"onnx": {"file": "../model.onnx"}}}, "artifacts.onnx"),
])
def test_write_version_refuses_texts_and_manifests_before_making_a_folder(tmp_path, meta, manifest, says):
    """The style folder was made before style.json's texts were checked: a refused version left it empty."""
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not read")
    root = tmp_path / "registry"
    with pytest.raises(RegistryError, match=says):
        write_version(root, STYLE, {"model.onnx": model}, manifest, meta)
    assert not root.exists()
