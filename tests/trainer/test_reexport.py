"""A served cin student's weights read back from its ONNX file, and served again as a new version."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tessera.registry import RegistryError
from tessera.tiling import Rect
from trainer import cin_student, networks
from trainer.cin_student import CinStudent, load_served_weights
from trainer.onnx_init import InitError
from trainer.painters import onnx_painter
from trainer.publish import export_onnx
from trainer.reexport import reexport
from trainer.serving_model import serving_model

SHIPPED = Path(__file__).resolve().parents[2] / "model_registry"


def _student(seed: int, n_blocks: int = 2, stem: int = 8) -> CinStudent:
    torch.manual_seed(seed)
    net = CinStudent(width=16, n_blocks=n_blocks, stem=stem).eval()
    for module in net.modules():
        if isinstance(module, nn.InstanceNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.3)
            nn.init.normal_(module.bias, 0.0, 0.3)
    return net


def test_the_weights_of_a_file_in_todays_form_come_back_exactly(tmp_path):
    net = _student(seed=1)
    export_onnx(serving_model(net), tmp_path, 4)
    fresh = CinStudent(width=16, n_blocks=2, stem=8).eval()
    load_served_weights(fresh, tmp_path / "model.onnx")
    for (name, theirs), mine in zip(net.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-5), name


@pytest.mark.parametrize("phased_when_written", [False, True])
def test_the_weights_of_a_wide_stem_come_back_in_either_form(tmp_path, monkeypatch, phased_when_written):
    """A stem wider than PHASE_STEM_MAX_CHANNELS is served plain today and was served in phase form
    before 2026-12-04; files of both forms read back."""
    net = _student(seed=3, n_blocks=1, stem=24)
    if phased_when_written:
        monkeypatch.setattr(cin_student, "PHASE_STEM_MAX_CHANNELS", 32)
    export_onnx(serving_model(net), tmp_path, 4)
    monkeypatch.undo()
    fresh = CinStudent(width=16, n_blocks=1, stem=24).eval()
    load_served_weights(fresh, tmp_path / "model.onnx")
    for (name, theirs), mine in zip(net.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-5), name


@pytest.mark.parametrize("version", ["9", "8"])
def test_a_shipped_file_of_an_older_form_loads_and_paints_as_it_did(version):
    """Vermilion v9 was exported before the phase-form stem (norms unnamed, output convolution in
    space-to-depth form), v8 before the sub-pixel decoder (every convolution as trained). The loader
    checks the painting against the file itself; v8 and v9 hold the same weights."""
    manifest = json.loads((SHIPPED / "vermilion" / version / "manifest.json").read_text())
    net = networks.define_G(**manifest["training"]["architecture_args"])
    load_served_weights(net, SHIPPED / "vermilion" / version / "model.onnx")
    reference = networks.define_G(**manifest["training"]["architecture_args"])
    load_served_weights(reference, SHIPPED / "vermilion" / "9" / "model.onnx")
    for (name, mine), theirs in zip(net.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-5), name


def test_a_file_of_another_network_is_refused(tmp_path):
    export_onnx(serving_model(_student(seed=2)), tmp_path, 4)
    wider = CinStudent(width=16, n_blocks=2, stem=16).eval()
    with pytest.raises(InitError):
        load_served_weights(wider, tmp_path / "model.onnx")
    deeper = CinStudent(width=16, n_blocks=3, stem=8).eval()
    with pytest.raises(InitError):
        load_served_weights(deeper, tmp_path / "model.onnx")


def _paint(version: Path, image: np.ndarray) -> np.ndarray:
    context = ort.InferenceSession(str(version / "context.onnx"), providers=["CPUExecutionProvider"])
    model = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    row = context.run(None, {context.get_inputs()[0].name: image})[0]
    return model.run(None, {"image": image, "context": row})[0]


def test_reexport_serves_the_same_weights_as_the_next_version(tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(SHIPPED / "vermilion", registry / "vermilion",
                    ignore=lambda d, names: [n for n in names if n.isdigit() and n != "9"])
    version = reexport(registry / "vermilion" / "9", log=lambda *_: None)
    assert version == 10
    old, new = (json.loads((registry / "vermilion" / v / "manifest.json").read_text()) for v in ("9", "10"))
    assert new["training"]["reexported_from"] == "vermilion/9"
    assert new["training"]["architecture_args"] == old["training"]["architecture_args"]
    assert new["metrics"] == old["metrics"]
    assert new["export"]["tiled_vs_whole_max_abs_diff"] <= 2 / 255 / 4
    critics = [(registry / "vermilion" / v / "critic.onnx").read_bytes() for v in ("9", "10")]
    assert hashlib.sha256(critics[0]).digest() == hashlib.sha256(critics[1]).digest()
    image = np.random.default_rng(0).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    before, after = _paint(registry / "vermilion" / "9", image), _paint(registry / "vermilion" / "10", image)
    assert np.abs(before - after).max() < 1e-4


def test_reexport_serves_a_compact_generator_with_its_kuwahara_filter_again_with_the_same_pixels(tmp_path):
    """Wesnoth Painting v6 (compact generator, image border, Kuwahara filter) as exported before the
    filter took one box filter instead of four: served again, it paints the same bytes."""
    registry = tmp_path / "registry"
    shutil.copytree(SHIPPED / "wesnoth-painting", registry / "wesnoth-painting",
                    ignore=lambda d, names: [n for n in names if n.isdigit() and n != "6"])
    version = reexport(registry / "wesnoth-painting" / "6", log=lambda *_: None)
    new = json.loads((registry / "wesnoth-painting" / str(version) / "manifest.json").read_text())
    assert new["training"]["reexported_from"] == "wesnoth-painting/6"
    assert new["tiling"]["border"] == 40
    photo = (np.random.default_rng(1).random((120, 164, 3)) * 255).astype(np.uint8)
    rect = [Rect(0, 0, 164, 120)]
    before = onnx_painter(registry / "wesnoth-painting" / "6").paint(photo, rect)[0]
    after = onnx_painter(registry / "wesnoth-painting" / str(version)).paint(photo, rect)[0]
    assert np.abs(before.astype(int) - after.astype(int)).max() <= 1


@pytest.mark.parametrize("version", ["teacher-26/2", "any-painting/3"])
def test_reexport_refuses_versions_it_cannot_rebuild(tmp_path, version):
    with pytest.raises(RegistryError, match="import them again|export-conditioned"):
        reexport(SHIPPED / version, tmp_path)
