"""An exact form on OpenVINO fp32 (the manifest's "fp32-openvino", docs/serving.md "Engines"): a server
with --cpu-engine auto serves it on OpenVINO only when every probe tile gives ONNX Runtime fp32's bytes,
beside the ONNX Runtime context model; any CPU will do (no bf16 needed)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from inference_server.model_version import LoadSettings, load_version
from inference_server.runtime.openvino_runtime import openvino_available
from inference_server.version_checks import probe
from scripts.local_stack import ROOT
from tessera.registry import published_files, read_manifest, write_version
from trainer.onnx_integer import integer_graph

pytestmark = [pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed"),
              pytest.mark.timeout(180)]
STYLE = ROOT / "model_registry" / "any-painting-best"


def _version(root: Path, model: onnx.ModelProto) -> Path:
    """any-painting-best v4's files with `model` as its model.onnx, listing fp32-openvino (no whole.onnx:
    a version on OpenVINO lets it go anyway)."""
    (root / "any-painting-best").mkdir(parents=True)
    shutil.copy(STYLE / "style.json", root / "any-painting-best" / "style.json")
    onnx.save(model, str(root / "model.onnx"))
    manifest, files = published_files(STYLE / "4")
    files["model.onnx"] = root / "model.onnx"
    del manifest["artifacts"]["whole_onnx"]
    files.pop("whole.onnx")
    manifest["precisions"] = ["fp32", "fp32-openvino"]
    return root / "any-painting-best" / str(write_version(root, "any-painting-best", files, manifest))


@pytest.fixture(scope="module")
def integer_version(tmp_path_factory) -> Path:
    model, _ = integer_graph(onnx.load(str(STYLE / "3" / "model.onnx")), onnx.load(str(STYLE / "2" / "model.onnx")))
    return _version(tmp_path_factory.mktemp("integer"), model)


@pytest.fixture(scope="module")
def qdq_version(tmp_path_factory) -> Path:
    """v4's own QDQ graph claiming fp32-openvino: OpenVINO fp32 paints it 15-34 dB from ONNX Runtime."""
    return _version(tmp_path_factory.mktemp("qdq"), onnx.load(str(STYLE / "4" / "model.onnx")))


def _loaded(version_dir: Path, cpu_engine: str, caplog):
    with caplog.at_level(logging.INFO, logger="inference_server.model_version"):
        return load_version(version_dir, LoadSettings(threads=1, cpu_engine=cpu_engine))


def test_an_exact_form_serves_on_openvino_fp32_with_onnx_runtimes_bytes(integer_version, caplog):
    loaded = _loaded(integer_version, "auto", caplog)
    try:
        assert loaded.runtime.name == "openvino-cpu-fp32"
        assert "serves on openvino-cpu-fp32, its context model on onnxruntime-cpu" in caplog.text
        manifest = read_manifest(integer_version)
        ours = probe(loaded.runtime, loaded.context_runtime, manifest)
    finally:
        loaded.retire()
    fp32 = load_version(integer_version, LoadSettings(threads=1, cpu_engine="onnxruntime"))
    try:
        assert fp32.runtime.name == "onnxruntime-cpu"
        theirs = probe(fp32.runtime, fp32.context_runtime, manifest)
    finally:
        fp32.retire()
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_a_graph_openvino_computes_otherwise_stays_on_onnx_runtime(qdq_version, caplog):
    loaded = _loaded(qdq_version, "auto", caplog)
    try:
        assert loaded.runtime.name == "onnxruntime-cpu"
    finally:
        loaded.retire()
    assert "stays on ONNX Runtime at fp32-openvino: OpenVINO fp32 does not give ONNX Runtime's bytes" in caplog.text


def test_a_manifest_may_list_fp32_openvino():
    from tessera.registry import PRECISIONS, REDUCED_PRECISIONS

    assert "fp32-openvino" in PRECISIONS and "fp32-openvino" not in REDUCED_PRECISIONS


def test_a_swapped_in_version_compiles_the_tile_shapes_its_predecessor_served_static(integer_version, tmp_path):
    """An operator publishes a new version while photos of one size are being served on static compiles:
    the new version compiles those tile shapes in its warm-up, before its first tile."""
    import time

    from inference_server.conditioned_version import probe_code
    from inference_server.model_store import ModelStore
    from inference_server.probe_tiles import photo_like
    from inference_server.version_checks import model_input

    root = tmp_path / "registry"
    first = _version(root, onnx.load(str(integer_version / "model.onnx")))
    store = ModelStore(root, lambda path: load_version(path, LoadSettings(threads=1, cpu_engine="auto")))
    store.refresh()
    try:
        with store.lease("any-painting-best") as serving:
            assert serving.runtime.name == "openvino-cpu-fp32"
            tile = photo_like(96, 128, seed=3)
            image = model_input(tile, serving.tiling)[None]
            context = serving.compute_context(tile, probe_code(serving.manifest)[0])[None]
            for _ in range(2):  # asked for twice: compiled once the version is idle
                serving.runtime.execute(image, context)
            deadline = time.monotonic() + 60
            while (96, 128) not in serving.static_tile_sizes():
                assert time.monotonic() < deadline, "the tile shape was never compiled"
                time.sleep(0.05)
        manifest, files = published_files(first)
        write_version(root, "any-painting-best", files, manifest)
        store.refresh()
        with store.lease("any-painting-best") as swapped:
            assert swapped.version == int(first.name) + 1
            assert (96, 128) in swapped.static_tile_sizes()  # before any call of its own
    finally:
        store.close()
