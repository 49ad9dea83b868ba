"""The colour-spread figure of scripts/unpaired_compare.py sees a one-colour cast and ignores brightness."""

import argparse

import pytest
import torch
from PIL import Image

from scripts.unpaired_compare import colour_spread, grid, parse_model


def _flat(rgb01, size=(3, 6, 8)):
    return torch.tensor(rgb01, dtype=torch.float32)[:, None, None].expand(size) * 2 - 1


def test_one_hue_at_different_brightness_has_no_spread_and_different_hues_do():
    olive = [_flat((0.5 * k, 0.5 * k, 0.2 * k)) for k in (0.6, 1.0, 1.4)]
    assert colour_spread(olive) == pytest.approx(0.0, abs=1e-6)
    varied = [_flat((0.8, 0.2, 0.2)), _flat((0.2, 0.7, 0.2)), _flat((0.2, 0.3, 0.9))]
    assert colour_spread(varied) > 0.1
    grey_levels = [_flat((v, v, v)) for v in (0.1, 0.5, 0.9)]
    assert colour_spread(grey_levels) == pytest.approx(0.0, abs=1e-9)


def test_spread_accepts_images_of_different_sizes():
    images = [_flat((0.9, 0.1, 0.1), (3, 4, 6)), _flat((0.1, 0.1, 0.9), (3, 8, 5))]
    assert colour_spread(images) > 0.15


def test_grid_has_one_row_per_photo_and_one_column_per_model(tmp_path):
    photos = [_flat((1, 1, 1), (3, 30, 60)), _flat((1, 1, 1), (3, 60, 60))]
    outputs = [_flat((0, 0, 0), (3, 30, 60)), _flat((0, 0, 0), (3, 60, 60))]
    path = tmp_path / "g.png"
    grid({"photo": photos, "m": outputs}, path)
    with Image.open(path) as im:
        assert im.height == 2 * (180 + 4)
        assert im.getpixel((10, 10)) == (255, 255, 255) and im.getpixel((360 + 4 + 10, 10)) == (0, 0, 0)


def test_model_argument_must_name_an_onnx_file(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    assert parse_model(f"v4={tmp_path / 'm.onnx'}") == ("v4", tmp_path / "m.onnx")
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=PATH"):
        parse_model(str(tmp_path / "missing.onnx"))
