"""scripts.version_diff: two versions painting the same photo, compared level by level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from scripts import version_diff

REGISTRY = Path(__file__).resolve().parents[1] / "model_registry"


def test_a_version_against_itself_differs_nowhere_and_against_another_style_a_lot(capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((60, 90, 3)) * 255).astype(np.uint8)).save(photo)
    same = [str(REGISTRY / "blue-ink" / "10")] * 2
    assert version_diff.main([*same, "--photo", str(photo), "--size", "45x31"]) == 0
    assert json.loads(capsys.readouterr().out) == {"size": "45x31", "max_levels": 0, "share_differing": 0.0}
    other = [str(REGISTRY / "blue-ink" / "10"), str(REGISTRY / "vermilion" / "10")]
    assert version_diff.main([*other, "--photo", str(photo), "--size", "45x31"]) == 0
    assert json.loads(capsys.readouterr().out)["max_levels"] > 50


def test_a_missing_version_or_bad_size_is_one_clear_line(capsys, tmp_path):
    assert version_diff.main([str(tmp_path / "no"), str(tmp_path / "no"), "--size", "8x8"]) == 2
    assert "version_diff:" in capsys.readouterr().err
