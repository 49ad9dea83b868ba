"""Generators as the server runs them, on windows of large photos: registry versions, the teacher, runs.

A ``Painter`` is a tile-safe generator with its context model: ``paint(photo, rects)`` computes the
photo's context once from a thumbnail (the version's ``thumbnail_size``, as served), then runs each
rectangle with its halo and keeps the core, exactly like one tile of a served result. So a 256 px
window of a 4096 px photo costs a 256 px tile, not the photo.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.imageio import make_thumbnail
from tessera.pixels import rgb8_to_chw, signed_to_rgb8
from tessera.tiling import Rect, crop_core, image_border, padded_rect
from trainer.tiled_check import run_region

TEACHER_VERSION = Path("model_registry/teacher-26/1")  # multistyle26, tile-safe (docs/styles.md)

# [1, 3, h, w] float32 in [-1, 1] and the context row (or None) -> [1, 3, h, w]
RunFn = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
# [1, 3, h, w] thumbnail in [-1, 1] -> [1, K] context (or None for generators without one)
ContextFn = Callable[[np.ndarray], np.ndarray | None]


@dataclass
class Painter:
    run: RunFn
    context: ContextFn
    halo: int
    multiple: int
    thumbnail_size: int
    border: int = 0  # the image border (manifest tiling.border), on the sides of a rectangle on the photo's edge

    def paint(self, photo: np.ndarray, rects: list[Rect]) -> list[np.ndarray]:
        """uint8 HxWx3 ``photo`` -> the painted uint8 hxwx3 window of each rectangle (served pixels)."""
        height, width = photo.shape[:2]
        context = self.context(rgb8_to_chw(make_thumbnail(photo, self.thumbnail_size))[None])
        windows = []
        for rect in rects:
            padded = padded_rect(rect, self.halo, width, height)
            region = rgb8_to_chw(photo[padded.y:padded.y1, padded.x:padded.x1])
            out = run_region(lambda batch: self.run(batch, context), region, self.multiple,
                             image_border(padded, width, height, self.border))
            windows.append(crop_core(signed_to_rgb8(out).transpose(1, 2, 0), rect, padded))
        return windows


def first_look_painter(version_dir: Path, threads: int = 1) -> Painter:
    """``onnx_painter`` of any version, a style-conditioned one in its first preset's look (for tools
    that compare or time versions of every kind the same way)."""
    manifest = json.loads((Path(version_dir) / "manifest.json").read_text())
    presets = manifest.get("presets") or [{}]
    return onnx_painter(version_dir, threads=threads, code=presets[0].get("code"))


def _session(path: Path, threads: int):
    from tessera.onnx_session import open_session

    return open_session(path, threads)


def onnx_painter(version_dir: Path, style_index: int | None = None, threads: int = 1,
                 code: np.ndarray | None = None) -> Painter:
    """A registry version folder as served. A conditioned version needs its look: ``code`` (its style code,
    [D]) or ``style_index`` (a one-hot code)."""
    version_dir = Path(version_dir)
    manifest = json.loads((version_dir / "manifest.json").read_text())
    tiling, io = manifest["tiling"], manifest["io"]
    model = _session(version_dir / manifest["artifacts"]["onnx"]["file"], threads)
    ctx_file = manifest["artifacts"].get("context_onnx")
    ctx_model = _session(version_dir / ctx_file["file"], threads) if ctx_file else None
    extra = {}
    if manifest.get("kind") == "conditioned":
        if code is not None:
            extra["style_code"] = np.asarray(code, np.float32).reshape(1, -1)
        elif style_index is None:
            raise ValueError(f"{version_dir} is style-conditioned: pass the style index or code")
        else:
            extra["style_code"] = np.eye(manifest["conditioning"]["code_size"], dtype=np.float32)[style_index][None]

    def context(thumb: np.ndarray) -> np.ndarray | None:
        return None if ctx_model is None else ctx_model.run(None, {"thumbnail": thumb, **extra})[0]

    def run(batch: np.ndarray, ctx: np.ndarray | None) -> np.ndarray:
        feeds = {io["input"]: batch.astype(np.float32)}
        if ctx is not None:
            feeds[io["context_input"]] = np.repeat(ctx, len(batch), axis=0).astype(np.float32)
        return model.run(None, feeds)[0]

    return Painter(run, context, int(tiling["halo"]), int(tiling["size_multiple"]),
                   int(tiling.get("thumbnail_size") or 256), int(tiling.get("border", 0)))


def teacher_painter(style_index: int, threads: int = 1) -> Painter:
    """The multistyle26 teacher as Tessera serves it (teacher-26, 512 px thumbnail statistics)."""
    return onnx_painter(TEACHER_VERSION, style_index, threads)


def torch_painter(net, halo: int, multiple: int, thumbnail_size: int = 256) -> Painter:
    """A PyTorch generator (``net(image, context)``) with the context the export would compute."""
    import torch

    from trainer.compact import image_context

    uses_context = getattr(net, "film", None) is not None

    def context(thumb: np.ndarray) -> np.ndarray | None:
        return image_context(torch.from_numpy(thumb)).numpy() if uses_context else None

    def run(batch: np.ndarray, ctx: np.ndarray | None) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            c = None if ctx is None else torch.from_numpy(ctx).expand(len(batch), -1)
            return (net(x, c) if uses_context else net(x)).numpy()

    return Painter(run, context, halo, multiple, thumbnail_size)


def serving_painter(model, halo: int, multiple: int, thumbnail_size: int) -> Painter:
    """A trainer.serving_model.ServingModel run in PyTorch as its ONNX export is served: the context model
    on the photo's thumbnail, the generator on each window with that context."""
    import torch

    def context(thumb: np.ndarray) -> np.ndarray | None:
        if model.context_model is None:
            return None
        with torch.no_grad():
            return model.context_model(torch.from_numpy(thumb)).numpy()

    def run(batch: np.ndarray, ctx: np.ndarray | None) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            if ctx is None:
                return model.generator(x).numpy()
            return model.generator(x, torch.from_numpy(ctx).expand(len(batch), -1)).numpy()

    return Painter(run, context, halo, multiple, thumbnail_size)
