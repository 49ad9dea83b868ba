"""Registry validation: every kind of bad version is rejected with its own reason, and good
versions beside it still load and serve."""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.model_version import LoadSettings, load_version
from tessera.registry import (
    RegistryError,
    newest_version_dir,
    parse_manifest,
    read_manifest,
    set_pin,
    write_version,
)
from tests.support.tiny_model import tiny_manifest, write_tiny_version

STYLE = "mixed"


def _store(root: Path) -> ModelStore:
    store = ModelStore(root, lambda path: load_version(path, LoadSettings(threads=1)))
    store.refresh()
    return store


def _graph_model(path: Path, input_name="image", output_name="stylized", channels=3, nan=False) -> None:
    """A hand-built ONNX graph: identity (or identity times NaN) with chosen names and shape."""
    shape = ["n", channels, "h", "w"]
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, shape)]
    nodes = [helper.make_node("Mul", [input_name, "k"], [output_name])]
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [float("nan") if nan else 1.0])
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=[k])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _add(root: Path, tmp_path: Path, **graph_options) -> int:
    model = tmp_path / "graph.onnx"
    _graph_model(model, **graph_options)
    return write_version(root, STYLE, {"model.onnx": model}, tiny_manifest())


def _corrupt_checksum(version_dir: Path) -> None:
    (version_dir / "model.onnx").write_bytes((version_dir / "model.onnx").read_bytes() + b"\0")


def _remove_model(version_dir: Path) -> None:
    (version_dir / "model.onnx").unlink()


def _garble_manifest(version_dir: Path) -> None:
    (version_dir / "manifest.json").write_text("{ not json")


def _wrong_format(version_dir: Path) -> None:
    data = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps({**data, "format_version": 99}))


def _mistype_version(version_dir: Path) -> None:
    data = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps({**data, "version": "one"}))


def _copy_under_another_number(version_dir: Path) -> None:
    data = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps({**data, "version": 1}))


def _copy_from_another_style(version_dir: Path) -> None:
    data = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps({**data, "style": "other"}))


def _huge_halo(version_dir: Path) -> None:
    """A halo the server would allocate probe tiles of (100000 px: 112 GiB), named as a field."""
    data = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps({**data, "tiling": {**data["tiling"], "halo": 100000}}))


@pytest.mark.parametrize(("damage", "reason"), [
    (_mistype_version, "manifest says version 'one' but lies in folder 2"),
    # what to do, said too: a copy's number is the field to edit
    (_copy_under_another_number, 'manifest says version 1 but lies in folder 2: a copied version must say its '
                                 'folder\'s number ("version": 2 in manifest.json)'),
    (_copy_from_another_style, f"manifest says style 'other' but lies in style folder {STYLE}: a copied version "
                               f'must name its style ("style": "{STYLE}" in manifest.json)'),
    (_huge_halo, "manifest.json: tiling.halo: Input should be less than or equal to 256 (got 100000)"),
    (_remove_model, "artifact model.onnx is missing"),
    (_corrupt_checksum, "checksum mismatch for model.onnx"),
    (_garble_manifest, "manifest.json is not valid JSON"),
    (_wrong_format, "format_version must be 1"),
])
def test_damaged_files_are_rejected_with_their_reason(tmp_path, damage, reason):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    bad = write_tiny_version(root, STYLE, tmp_path)
    damage(root / STYLE / str(bad))
    state = _store(root).styles()[0]
    assert reason in state.rejected[bad].message
    assert list(state.versions) == [1] and state.serving.version == 1
    assert f"version {bad} was rejected" in state.status_message()


@pytest.mark.parametrize(("graph_options", "reason"), [
    ({"input_name": "img"}, "model inputs are ['img']; expected ['image']"),
    ({"output_name": "out"}, "expected 'stylized'"),
    ({"channels": 4}, "expected float32 [N, 3, H, W]"),
    ({"nan": True}, "gave non-finite output (NaN or infinity)"),
])
def test_models_breaking_the_io_convention_are_rejected(tmp_path, graph_options, reason):
    root = tmp_path / "registry"
    good = _add(root, tmp_path)
    bad = _add(root, tmp_path, **graph_options)
    state = _store(root).styles()[0]
    assert reason in state.rejected[bad].message
    assert state.serving.version == good


def test_unloadable_model_file_is_rejected(tmp_path):
    root = tmp_path / "registry"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    version = write_version(root, STYLE, {"model.onnx": junk}, tiny_manifest())
    state = _store(root).styles()[0]
    assert "ONNX Runtime cannot load model.onnx" in state.rejected[version].message
    with pytest.raises(StyleUnavailable, match="no valid version"):
        _store(root)._acquire(STYLE, 0)


@pytest.mark.parametrize(("section", "field", "value", "limit"), [
    ("tiling", "halo", 100000, "less than or equal to 256"),
    ("tiling", "size_multiple", 1 << 20, "less than or equal to 1024"),
    ("tiling", "thumbnail_size", 100000, "less than or equal to 512"),
    ("tiling", "border", 100000, "less than or equal to 256"),
])
def test_sizes_the_server_allocates_are_bounded_by_the_schema_naming_their_field(section, field, value, limit):
    data = {**tiny_manifest(), "format_version": 1, "style": STYLE, "version": 1,
            "artifacts": {"onnx": {"file": "model.onnx", "sha256": "0" * 64}}}
    data[section] = {**data[section], field: value}
    said = rf"^manifest.json: {section}\.{field}: Input should be {limit} \(got {value}\)"
    with pytest.raises(RegistryError, match=said):
        parse_manifest(data, "1")


def test_write_version_numbers_versions_and_fills_checksums(tmp_path):
    root = tmp_path / "registry"
    assert write_tiny_version(root, STYLE, tmp_path) == 1
    assert write_tiny_version(root, STYLE, tmp_path) == 2
    manifest = read_manifest(root / STYLE / "2")
    assert manifest.version == 2 and len(manifest.onnx.sha256) == 64
    assert not [p for p in (root / STYLE).iterdir() if p.name.startswith(".tmp")]


def test_a_pin_on_a_rejected_version_falls_back_to_the_newest_valid_one(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    bad = write_tiny_version(root, STYLE, tmp_path)
    set_pin(root / STYLE, bad)
    _garble_manifest(root / STYLE / str(bad))
    state = _store(root).styles()[0]
    assert state.serving.version == 1
    assert f"pinned version {bad} cannot serve" in state.status_message()


def test_pin_serves_an_older_version_and_unknown_styles_are_not_found(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    write_tiny_version(root, STYLE, tmp_path, seed=1)
    set_pin(root / STYLE, 1)
    store = _store(root)
    with store.lease(STYLE) as model:
        assert model.version == 1
    with pytest.raises(StyleNotFound, match=f"unknown style 'nope'; this server serves {STYLE}$"):
        store._acquire("nope", 0)
    with pytest.raises(RegistryError, match="has no version 7"):
        set_pin(root / STYLE, 7)


def test_removed_version_is_released_only_after_its_last_lease(tmp_path, monkeypatch):
    """And, since a clip's later frames ask for it by number, only once DRAIN_SECONDS have passed since
    that lease (inference_server/model_store.py): a scan then retires it, and it is finalized."""
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    store = _store(root)
    with store.lease(STYLE) as model:
        import shutil

        shutil.rmtree(root / STYLE / "1")
        store.refresh()
        future = model.infer(np.zeros((20, 20, 3), dtype=np.uint8), None)
        assert future.result(timeout=10).shape == (3, 20, 20)
    store.refresh()
    assert model.runtime.session is not None  # draining: a clip's next frame may still name it
    monkeypatch.setattr("inference_server.model_store.DRAIN_SECONDS", 0.0)
    store.refresh()
    assert model.runtime.session is None  # finalized once retired after its last lease


def test_a_rejected_version_is_retried_once_its_folder_is_fixed(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    bad = write_tiny_version(root, STYLE, tmp_path, seed=1)
    model = root / STYLE / str(bad) / "model.onnx"
    good_bytes = model.read_bytes()
    model.write_bytes(b"half a copy")
    store = _store(root)
    assert "checksum mismatch" in store.styles()[0].rejected[bad].message
    store.refresh()
    assert bad in store.styles()[0].rejected  # unchanged folder: not loaded again
    model.write_bytes(good_bytes)
    store.refresh()
    assert store.styles()[0].serving.version == bad


def test_published_versions_are_readable_by_other_users(tmp_path):
    root = tmp_path / "registry"
    number = write_tiny_version(root, STYLE, tmp_path)
    assert (root / STYLE / str(number)).stat().st_mode & 0o777 == 0o755
    assert (root / STYLE / "style.json").stat().st_mode & 0o777 == 0o644


def test_the_newest_version_folder_is_the_highest_number_not_the_last_name(tmp_path):
    """Every script and test finds a style's newest version through newest_version_dir: by number
    ("10" after "9"), skipping writers' temporary folders and stray files."""
    for name in ("1", "9", "10", ".staging-11", "012"):
        (tmp_path / name).mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert newest_version_dir(tmp_path) == tmp_path / "10"
    with pytest.raises(FileNotFoundError, match="no numbered version folder"):
        newest_version_dir(tmp_path / "1")
    with pytest.raises(FileNotFoundError):
        newest_version_dir(tmp_path / "no-such-style")


@pytest.mark.parametrize(("layers", "says"), [
    # A 1001 px kernel: a 501 px halo on every explained tile, and a search for the image side it needs.
    ([[1001, 1, 0]], "critic.halo: Input should be less than or equal to 256"),
    # A stride of 2048: explained tiles start on a 2048 px grid, larger than any tile.
    ([[2, 2048, 0]], "critic's stride 2048 give tiles on a 2048 px grid; at most 1024"),
])
def test_a_critic_geometry_the_server_could_not_tile_is_refused(layers, says):
    from tessera.critic_geometry import chain_geometry

    geometry = chain_geometry(layers)
    data = {**tiny_manifest(), "format_version": 1, "style": STYLE, "version": 1,
            "artifacts": {"onnx": {"file": "model.onnx", "sha256": "0" * 64},
                          "critic": {"file": "critic.onnx", "sha256": "1" * 64}},
            "critic": {"conditional": True, "score": "logit", "realism_layers": layers, "gradcam_layers": layers,
                       "receptive_field": geometry.receptive_field, "halo": geometry.halo}}
    with pytest.raises(RegistryError, match=re.escape(says)):
        parse_manifest(data, "1")
