"""A registry that looks like a real one to the page: a few tiny colour styles with previews, and one
style that has no valid version. The models are real ONNX generators, only small."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skdata

from tessera.pixels import rgb8_to_nchw, signed_to_rgb8
from tessera.registry import write_version
from tests.support.tiny_model import TinyGenerator, export_onnx, tiny_manifest

# id -> (display name, description, colour matrix applied before the learned texture)
TONES = {
    "amber-dusk": ("Amber dusk", "Warm evening light, like an old print.",
                   [[0.45, 0.8, 0.2], [0.35, 0.65, 0.15], [0.2, 0.4, 0.1]]),
    "harbour-blue": ("Harbour blue", "Cold blue cyanotype tones.",
                     [[0.1, 0.2, 0.1], [0.25, 0.45, 0.2], [0.5, 0.7, 0.6]]),
    "moss": ("Moss", "Muted greens of a forest floor.",
             [[0.25, 0.45, 0.1], [0.35, 0.75, 0.2], [0.15, 0.35, 0.2]]),
}
UNAVAILABLE_STYLE = "watercolour"


class ToneGenerator(TinyGenerator):
    """TinyGenerator with its own colour matrix instead of sepia."""

    def __init__(self, matrix: list[list[float]], seed: int = 0) -> None:
        super().__init__(seed)
        self.register_buffer("matrix", torch.tensor(matrix))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        toned = torch.einsum("oc,nchw->nohw", self.matrix, image)
        return torch.tanh(toned + 0.3 * self.net(image))


def preview_jpeg(model: torch.nn.Module, size: int = 192) -> bytes:
    """A preview like the trainer's: the astronaut's face beside the model's output, "before | after"."""
    photo = Image.fromarray(skdata.astronaut()).crop((120, 20, 340, 240)).resize((size, size))
    x = torch.from_numpy(rgb8_to_nchw(np.asarray(photo)))
    with torch.no_grad():
        y = model.eval()(x)[0].permute(1, 2, 0).numpy()
    after = signed_to_rgb8(y)
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate([np.asarray(photo), after], axis=1)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def write_gallery(registry: Path, workdir: Path) -> Path:
    """Fills `registry` with the TONES styles (version 1, with previews) and UNAVAILABLE_STYLE."""
    for seed, (style, (name, description, matrix)) in enumerate(TONES.items()):
        model = ToneGenerator(matrix, seed)
        onnx_path, preview_path = workdir / f"{style}.onnx", workdir / f"{style}.jpg"
        export_onnx(model, onnx_path)
        preview_path.write_bytes(preview_jpeg(model))
        manifest = tiny_manifest()
        manifest["artifacts"]["preview"] = {"file": "preview.jpg"}
        meta = {"display_name": name, "description": description, "license": "CC0-1.0",
                "credits": "Generated colour transform by the Tessera test suite."}
        write_version(registry, style, {"model.onnx": onnx_path, "preview.jpg": preview_path}, manifest, meta)
    broken = registry / UNAVAILABLE_STYLE
    broken.mkdir()
    (broken / "style.json").write_text(json.dumps({
        "id": UNAVAILABLE_STYLE, "display_name": "Watercolour", "description": "Soft washes of colour.",
        "credits": "", "license": "", "pinned_version": None}))
    return registry
