"""The server's one image path: one image, one leased model version, restyled region by region.

Both RPCs are thin adapters over it (DESIGN.md §2): `StylizeTiles` (tile_stream.py) turns wire
tiles into regions, unary `Stylize` (unary.py) cuts a decoded image into regions itself. Everything
here is numpy: no protobuf message crosses this module's boundary.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from inference_server.conditioning import Source
from inference_server.critic import TileMaps
from inference_server.errors import InferenceFailed, InvalidRequest
from inference_server.model_version import LoadedVersion, NonFiniteOutput
from inference_server.whole_image import one_pass_fits
from tessera.colors import keep_colors
from tessera.pixels import MIN_EDGE, blend_to_rgb8
from tessera.tiling import (
    MAX_HALO,
    Rect,
    core_error,
    crop_core,
    halo_for,
    image_border,
    min_core_edge,
    padded_rect,
    shape_error,
)
from tessera.unhealthy_trailer import trailer


@dataclass(frozen=True)
class ImageSpec:
    """What a call says about its image before any pixel arrives.

    `halo` 0 means the model's own; `thumbnail` is the whole image as HxWx3 uint8 (any size; the model
    shrinks it), needed by models with image-wide statistics. `sources` choose the look of a
    style-conditioned model (inference_server.conditioning); `keep_colors` keeps the photo's chroma.
    """

    width: int
    height: int
    strength: float = 1.0
    halo: int = 0
    thumbnail: np.ndarray | None = None
    sources: tuple[Source, ...] = ()
    keep_colors: bool = False
    # Also compute the critic's maps of every region (inference_server.critic).
    explain: bool = False


def check_image(width: int, height: int, strength: float, max_pixels: int) -> None:
    """Raise InvalidRequest for an image size, shape or strength no model can serve, before any lease."""
    if width < 1 or height < 1:
        raise InvalidRequest(f"image size {width}x{height} must be at least 1x1")
    shape = shape_error(width, height)
    if shape:  # a strip costs far more tiles than its pixels: the cost of a call must follow its pixels
        raise InvalidRequest(shape)
    pixels = width * height
    if pixels > max_pixels:
        # INVALID_ARGUMENT, not RESOURCE_EXHAUSTED: resending the same image can never succeed, and
        # clients retry RESOURCE_EXHAUSTED (the server is busy) with backoff.
        raise InvalidRequest(f"a {width}x{height} image ({pixels:,} pixels) exceeds the server's limit of "
                             f"{max_pixels:,} pixels")
    if not 0.0 <= strength <= 1.0:
        raise InvalidRequest(f"strength must be in [0, 1], got {strength}")


@dataclass(frozen=True)
class Region:
    """Styled pixels: `rgb` (rect.height x rect.width x 3 uint8) lies at `rect` in the image, which is
    the core for tile-safe models (mode crop) and the padded rectangle for feather mode."""

    rect: Rect
    rgb: np.ndarray
    maps: TileMaps | None = None


class PendingRegion:
    """A region queued for inference. `result()` crops and blends it in the caller's thread, so the
    batcher's thread only runs the model."""

    def __init__(self, job: ImageJob, core: Rect, padded: Rect, pixels: np.ndarray, future: Future) -> None:
        self.core, self.padded = core, padded
        self._job, self._pixels, self._future = job, pixels, future

    def add_done_callback(self, callback: Callable[[PendingRegion], None]) -> None:
        self._future.add_done_callback(lambda _: callback(self))

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        """Drop the region if the batcher has not started it; True when it was dropped."""
        return self._future.cancel()

    def result(self, timeout: float | None = None) -> Region:
        """The styled region; raises InferenceFailed, or TimeoutError when not ready within `timeout` s."""
        try:
            output = self._future.result(timeout)
        except TimeoutError:
            raise
        except Exception as exc:  # the runtime's own error classes
            trailers = trailer(exc.version) if isinstance(exc, NonFiniteOutput) else ()
            raise InferenceFailed(f"inference failed on the region at ({self.core.x}, {self.core.y}): {exc}",
                                  trailers) from None
        return self._job.finish(output, self.core, self.padded, self._pixels)


class ImageGeometry:
    """What a stream asks of its job about the image: its size, a core's padded rectangle, core checks.
    Subclasses set `spec`, `halo`, `multiple` (the grid cores start on, px; 1: anywhere) and
    `tile_limits` (longest core edge, most core pixels: the version's, LoadedVersion.tile_limits)."""

    spec: ImageSpec
    halo: int
    multiple: int
    tile_limits: tuple[int, int]

    @property
    def pixels(self) -> int:
        return self.spec.width * self.spec.height

    def padded(self, core: Rect) -> Rect:
        """The rectangle of input pixels a core needs: grown by the halo, clipped to the image."""
        return padded_rect(core, self.halo, self.spec.width, self.spec.height)

    def check_core(self, core: Rect) -> None:
        """Raise InvalidRequest when a core is empty, too large, outside the image, or shorter than
        the halo on a side that ends inside the image (tessera.tiling.min_core_edge: at most the largest
        tile on the grid)."""
        max_edge, max_pixels = self.tile_limits
        problem = core_error(core, self.spec.width, self.spec.height, max_size=max_edge, max_pixels=max_pixels,
                             min_edge=min_core_edge(self.halo, self.multiple))
        if problem:
            raise InvalidRequest(problem)


class ImageJob(ImageGeometry):
    """Restyles regions of one image on one leased version, with the same halo, context and strength.

    Raises InvalidRequest when the spec cannot work with this version (halo, missing thumbnail).
    """

    def __init__(self, model: LoadedVersion, spec: ImageSpec) -> None:
        # Explained tiles start on the critic's grid as well as the generator's.
        self.multiple = math.lcm(model.tiling.size_multiple, model.critic.stride) if _explains(model, spec) \
            else model.tiling.size_multiple
        required = halo_for(model.tiling.halo + (model.critic.halo if spec.explain else 0), self.multiple)
        halo = spec.halo or required
        if halo < required:
            raise InvalidRequest(f"halo {spec.halo} is smaller than the {required} px that style "
                                 f"{model.style} version {model.version} needs")
        if halo > max(MAX_HALO, required):
            raise InvalidRequest(f"halo {spec.halo} exceeds the largest halo the server accepts, {MAX_HALO} px")
        if model.tiling.needs_thumbnail and spec.thumbnail is None:
            raise InvalidRequest(f"style {model.style} needs a thumbnail of the whole image in the header")
        if model.tiling.needs_thumbnail and min(spec.width, spec.height) < MIN_EDGE:
            raise InvalidRequest(f"a {spec.width}x{spec.height} image is too small for style {model.style}'s "
                                 f"image-wide statistics: send it enlarged to at least {MIN_EDGE} px on its short "
                                 "side, each pixel repeated a whole number of times, and shrink the result back "
                                 "(tessera's client and unary Stylize do; tessera/small_images.py)")
        self.model, self.spec, self.halo, self.tile_limits = model, spec, halo, model.tile_limits
        self._strength = spec.strength
        self._code = None
        self._context_lock = threading.Lock()
        conditioner = model.conditioner
        if conditioner is None:
            if spec.sources:
                raise InvalidRequest(f"style {model.style} is a fixed style: it takes no presets or style images")
            self._context = model.compute_context(spec.thumbnail)
        else:
            self._code = conditioner.code_for(spec.sources, spec.thumbnail, spec.strength)
            if conditioner.strength_moves_code:
                self._strength = 1.0  # strength went into the code; the pixels are not blended again
            # With whole.onnx the context waits for the first region: an image that is its own
            # thumbnail, sent as one region, never needs it (whole_image.py).
            self._context = None if model.whole_runtime is not None else model.compute_context(spec.thumbnail,
                                                                                                 self._code)

    def check_core(self, core: Rect) -> None:
        """Raise InvalidRequest when a core is empty, too large or outside the image, or off the grid."""
        super().check_core(core)
        if self.spec.explain and (core.x % self.multiple or core.y % self.multiple):
            raise InvalidRequest(f"with explain, tile cores must start on multiples of {self.multiple} px (the "
                                 f"generator's and the critic's grids); the core at ({core.x}, {core.y}) does not")

    def stylize(self, core: Rect, pixels: np.ndarray) -> PendingRegion:
        """Queue one core; `pixels` are its padded rectangle (see `padded`) as HxWx3 uint8."""
        self.check_core(core)
        padded = self.padded(core)
        if pixels.shape != (padded.height, padded.width, 3) or pixels.dtype != np.uint8:
            raise InvalidRequest(f"the region at ({core.x}, {core.y}) needs {padded.width}x{padded.height} RGB8 "
                                 f"pixels (core plus {self.halo} px halo), got {pixels.dtype} {pixels.shape}")
        if self.model.whole_runtime is not None and self._context is None and one_pass_fits(
                self.spec.thumbnail, pixels, core, padded, self.spec.width, self.spec.height,
                self.model.tiling.thumbnail_size, self.model.tiling.size_multiple):
            return PendingRegion(self, core, padded, pixels, self.model.infer_whole(pixels, self._code))
        border = image_border(padded, self.spec.width, self.spec.height, self.model.tiling.border)
        return PendingRegion(self, core, padded, pixels, self.model.infer(pixels, self._context_row(), border))

    def _context_row(self) -> np.ndarray | None:
        """The stream's context row, computed at the first region that needs it."""
        if self._code is None or self.model.whole_runtime is None:
            return self._context
        with self._context_lock:
            if self._context is None:
                self._context = self.model.compute_context(self.spec.thumbnail, self._code)
            return self._context

    def finish(self, output: np.ndarray, core: Rect, padded: Rect, pixels: np.ndarray) -> Region:
        """Crop (mode crop) or keep whole (mode feather) a 3xHxW output, blend by strength, quantize,
        and keep the photo's colours when asked."""
        output = output[:, :padded.height, :padded.width]
        if self.spec.explain:
            return self._explained(output, core, padded, pixels)
        if self.model.tiling.mode == "feather":
            rect, styled, original = padded, output, pixels
        else:
            rect = core
            styled = crop_core(output.transpose(1, 2, 0), core, padded).transpose(2, 0, 1)
            original = crop_core(pixels, core, padded)
        # The output is this region's alone from here on: blend it in place, without float temporaries.
        rgb = blend_to_rgb8(styled, original, self._strength, overwrite=True)
        return Region(rect, keep_colors(rgb, original) if self.spec.keep_colors else rgb)

    def _explained(self, output: np.ndarray, core: Rect, padded: Rect, pixels: np.ndarray) -> Region:
        """The core's result and the critic's maps of it: the critic judges the result as returned
        (strength and kept colours applied) over the whole padded region, and keeps its core's cells."""
        rgb = blend_to_rgb8(output, pixels, self._strength)
        if self.spec.keep_colors:
            rgb = keep_colors(rgb, pixels)
        try:
            maps = self.model.critic.maps(rgb, pixels, padded, core, self.spec.width, self.spec.height)
        except Exception as exc:  # onnxruntime's own types, or a grid that does not cover the core
            raise InferenceFailed(f"the critic failed on the region at ({core.x}, {core.y}): {exc}") from None
        return Region(core, crop_core(rgb, core, padded), maps)


def _explains(model: LoadedVersion, spec: ImageSpec) -> bool:
    """Whether the call asks to explain; InvalidRequest when the version cannot."""
    if not spec.explain:
        return False
    if model.critic is None:
        raise InvalidRequest(f"style {model.style} version {model.version} ships no critic, so it cannot explain "
                             "its results (ListStyles' has_critic; `tessera styles` lists --explain for the styles "
                             "that can)")
    if model.tiling.mode != "crop":
        raise InvalidRequest(f"style {model.style} version {model.version} blends feathered tiles, so its critic's "
                             "maps cannot be tiled exactly; it cannot explain")
    smallest = model.critic.min_side
    if min(spec.width, spec.height) < smallest:
        raise InvalidRequest(f"explain needs an image at least {smallest} px on each side, the critic's smallest "
                             f"patch; this one is painted at {spec.width}x{spec.height} px (at a brush scale, "
                             "the working size): restyle it without explain, or at a larger scale")
    return True
