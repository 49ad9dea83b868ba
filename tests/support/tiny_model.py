"""A small tile-safe generator, exported to ONNX and written into a registry like the trainer does.

Tile-safe: plain convolutions, one stride-2 stage (size multiple 2), no normalisation, so tiles
with a halo at least the receptive field reproduce whole-image output.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tessera.registry import INPUT_NAME, OUTPUT_NAME, write_version

TINY_HALO = 16  # receptive-field radius is 12 px (see test_tiny_model_halo); rounded up
TINY_MULTIPLE = 2


class TinyGenerator(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(16, 8, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Conv2d(8, 3, 3, padding=1, padding_mode="reflect"),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # A sepia-like colour shift plus a learned texture, clamped to the [-1, 1] convention.
        sepia = torch.tensor([[0.39, 0.77, 0.19], [0.35, 0.69, 0.17], [0.27, 0.53, 0.13]])
        toned = torch.einsum("oc,nchw->nohw", sepia, image)
        return torch.tanh(toned + 0.3 * self.net(image))


def export_onnx(model: nn.Module, path: Path, example_size: int = 32) -> None:
    """Export with dynamic N, H and W under the registry's input and output names."""
    model.eval()
    example = torch.rand(1, 3, example_size, example_size) * 2 - 1
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its own deprecation
        torch.onnx.export(model, (example,), buffer, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "n", 2: "h", 3: "w"}, OUTPUT_NAME: {0: "n", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    path.write_bytes(buffer.getvalue())


def tiny_manifest(halo: int = TINY_HALO, multiple: int = TINY_MULTIPLE) -> dict:
    return {
        "artifacts": {"onnx": {"file": "model.onnx"}},
        "io": {"input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "NCHW", "color": "RGB",
               "dtype": "float32", "range": [-1.0, 1.0]},
        "tiling": {"tile_safe": True, "halo": halo, "size_multiple": multiple, "mode": "crop"},
        "training": {"kind": "test", "architecture": "tiny", "dataset": "none", "steps": 0},
        "metrics": {},
    }


def write_tiny_version(registry: Path, style: str, workdir: Path, seed: int = 0) -> int:
    """Export a TinyGenerator and add it to `registry` as a new version of `style`."""
    onnx_path = workdir / f"tiny-{style}-{seed}.onnx"
    export_onnx(TinyGenerator(seed), onnx_path)
    meta = {"display_name": style.replace("-", " ").title(), "description": "A tiny test style.",
            "credits": "Made by the test suite.", "license": "Apache-2.0"}
    return write_version(registry, style, {"model.onnx": onnx_path}, tiny_manifest(), meta)


def whole_image_reference(model: nn.Module, pixels: np.ndarray) -> np.ndarray:
    """PyTorch output for a whole RGB8 image, padded like the server pads, as RGB8."""
    from tessera.pixels import blend_to_rgb8, pad_to_multiple, rgb8_to_chw

    chw = pad_to_multiple(rgb8_to_chw(pixels), TINY_MULTIPLE)
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(chw)[None])[0].numpy()
    height, width = pixels.shape[:2]
    return blend_to_rgb8(out[:, :height, :width], pixels, 1.0)
