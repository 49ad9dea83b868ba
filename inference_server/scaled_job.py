"""StylizeTiles with a brush scale (StreamHeader.scale < 1): full-resolution tiles in and out, the model
at the working resolution in between, each tile on its own and seam-free.

For a tile's core the server needs, at the working resolution, the cells the guided enlargement reads
(tessera.brush_scale.cells_needed: bilinear neighbours and two box windows), and around them the
model's own halo, starting on the model's stride; at full resolution, the photo under all of that. So
the stream's halo, announced in StreamAccepted.tiling, is the working halo brought to full size:
ceil((model halo + 2 x box radius + 2 + stride) / scale) + 2 px. Every step is exact on a part of the image:
the working pixels are an integer area average (tessera.brush_scale.area_shrink), the model is tile-safe
(crop mode), and the filter's windows and the bilinear grid are those of the whole image, so tiles
agree with the whole image and with unary Stylize at the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from inference_server.engine import ImageGeometry, ImageJob, ImageSpec, PendingRegion, Region
from inference_server.errors import InvalidRequest
from inference_server.model_version import LoadedVersion
from tessera import brush_scale
from tessera.tile_plan import TileLimits, choose_tile_shape
from tessera.tiling import MAX_HALO, MAX_TILE_BYTES, Rect


def scaled_job(model: LoadedVersion, spec: ImageSpec, scale: float) -> ScaledJob:
    """The job of a stream at brush `scale` < 1; InvalidRequest when this version or call cannot have one."""
    try:
        brush_scale.check_scale_for(spec.width, spec.height, scale)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if model.tiling.mode != "crop":
        raise InvalidRequest(f"style {model.style} version {model.version} blends feathered tiles, so a brush scale "
                             "cannot be applied tile by tile; use Stylize, or stream the image at the working "
                             "resolution yourself")
    if spec.explain:
        raise InvalidRequest("explain and a brush scale cannot be combined in StylizeTiles; use Stylize")
    return ScaledJob(model, spec, scale)


class ScaledJob(ImageGeometry):
    """ImageJob's interface for TileStream, at full resolution, over an ImageJob at the working one."""

    multiple = 1  # full-resolution cores may start anywhere

    def __init__(self, model: LoadedVersion, spec: ImageSpec, scale: float) -> None:
        self.spec, self.scale = spec, scale
        self.full = (spec.width, spec.height)
        self.work = brush_scale.working_size(spec.width, spec.height, scale)
        conditioner = model.conditioner
        self._mixes = conditioner is None or not conditioner.strength_moves_code
        # As unary Stylize at a brush scale: a pixel mix waits for full size, a code strength does not.
        self.inner = ImageJob(model, ImageSpec(self.work[0], self.work[1], 1.0 if self._mixes else spec.strength,
                                               thumbnail=spec.thumbnail, sources=spec.sources))
        ratio = max(spec.width / self.work[0], spec.height / self.work[1])
        # Working cells start on the model's stride (_cells), which may add up to a stride's cells.
        required = math.ceil((self.inner.halo + 2 * brush_scale.RADIUS + 2 + self.inner.multiple) * ratio) + 2
        if spec.halo and spec.halo < required:
            raise InvalidRequest(f"halo {spec.halo} is smaller than the {required} px that style {model.style} "
                                 f"version {model.version} needs at brush scale {scale:g} (StreamAccepted.tiling.halo)")
        if spec.halo > max(MAX_HALO, required):
            raise InvalidRequest(f"halo {spec.halo} exceeds the largest halo the server accepts at brush scale "
                                 f"{scale:g}, {max(MAX_HALO, required)} px")
        self.halo = spec.halo or required
        self.tile_limits, self.inner.tile_limits = self._limits(model.tile_limits)
        self._check_tiles_fit(model, scale)

    def _limits(self, version: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """(full-resolution limits, working cells' limits) from the version's (longest core edge, most core
        pixels). A full-resolution core's working cells (_cells) are the core shrunk by the working scale
        plus the windows around it and the stride: up to `margin` more per axis. The full-resolution edge
        is held so that its cells stay within the version's edge (a TensorRT plan's profile is a hard
        limit); their area may pass the version's by the margin's strips (that bound is about memory), so
        the inner check, on cells this job makes, never refuses a core the stream was offered."""
        edge, pixels = version
        shrink = max(self.work[0] / self.full[0], self.work[1] / self.full[1])
        margin = 2 * (2 * brush_scale.RADIUS + 2 + self.inner.multiple)
        full_edge = max(1, min(edge, math.floor((edge - margin) / shrink)))
        full_pixels = max(1, min(pixels, math.floor(((math.isqrt(pixels) - margin) / shrink) ** 2)))
        return (full_edge, full_pixels), (edge, pixels + 2 * margin * edge)

    def _check_tiles_fit(self, model: LoadedVersion, scale: float) -> None:
        """InvalidRequest when no tile with this halo fits what a tile may carry (tiling.MAX_TILE_BYTES),
        by the plan a Tessera client would cut (tessera.tile_plan): a tiny scale on a large photo makes
        the halo thousands of px, and its tiles could never be sent."""
        width, height = self.full
        try:
            max_edge, max_pixels = self.tile_limits
            choose_tile_shape(width, height, TileLimits(halo=self.halo, size_multiple=self.multiple,
                                                        max_edge=max_edge, max_pixels=max_pixels))
        except ValueError:
            raise InvalidRequest(
                f"at brush scale {scale:g}, style {model.style} needs a {self.halo} px halo around each tile of "
                f"this {width}x{height} image, so no tile with it fits the {MAX_TILE_BYTES // 2**20} MiB a tile "
                "may carry; use a larger brush scale, or shrink the image to the working size before streaming "
                "it (TesseraClient.stylize does)") from None

    def stylize(self, core: Rect, pixels: np.ndarray) -> ScaledRegion:
        """Queue one full-resolution core; `pixels` are its padded rectangle (HxWx3 uint8)."""
        padded = self.padded(core)
        if pixels.shape != (padded.height, padded.width, 3) or pixels.dtype != np.uint8:
            raise InvalidRequest(f"the region at ({core.x}, {core.y}) needs {padded.width}x{padded.height} RGB8 "
                                 f"pixels (core plus {self.halo} px halo), got {pixels.dtype} {pixels.shape}")
        cells = self._cells(core)
        work_padded = self.inner.padded(cells)
        box = (work_padded.x, work_padded.y, work_padded.x1, work_padded.y1)
        try:
            small = brush_scale.area_shrink(pixels, self.work, self.full, (padded.x, padded.y), box)
        except ValueError as exc:  # the halo check above makes this unreachable; never a wrong tile
            raise InvalidRequest(f"the region at ({core.x}, {core.y}): {exc}") from None
        photo = pixels[core.y - padded.y:core.y1 - padded.y, core.x - padded.x:core.x1 - padded.x]
        inner_core = small[cells.y - work_padded.y:cells.y1 - work_padded.y,
                           cells.x - work_padded.x:cells.x1 - work_padded.x]
        pending = self.inner.stylize(cells, small)
        return ScaledRegion(pending, lambda styled: self._enlarge(styled, inner_core, cells, photo, core))

    def _cells(self, core: Rect) -> Rect:
        """The working cells the core's result reads, as an inner core starting on the model's stride
        (a strided model gives a region what it gives the whole image only there)."""
        step = self.inner.multiple
        x0, x1 = brush_scale.cells_needed(self.full[0], self.work[0], core.x, core.x1)
        y0, y1 = brush_scale.cells_needed(self.full[1], self.work[1], core.y, core.y1)
        x0, y0 = x0 - x0 % step, y0 - y0 % step
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def _enlarge(self, styled: Region, small: np.ndarray, cells: Rect, photo: np.ndarray, core: Rect) -> Region:
        strength = self.spec.strength if self._mixes else 1.0
        rgb = brush_scale.enlarge_part(styled.rgb, small, (cells.x, cells.y), photo, (core.x, core.y), self.full,
                                       self.work, strength, self.spec.keep_colors)
        return Region(core, rgb)


class ScaledRegion:
    """PendingRegion's interface: the working-resolution region, enlarged in the caller's thread."""

    def __init__(self, pending: PendingRegion, enlarge: Callable[[Region], Region]) -> None:
        self._pending, self._enlarge = pending, enlarge

    def add_done_callback(self, callback: Callable[[ScaledRegion], None]) -> None:
        self._pending.add_done_callback(lambda _: callback(self))

    def done(self) -> bool:
        return self._pending.done()

    def cancel(self) -> bool:
        return self._pending.cancel()

    def result(self, timeout: float | None = None) -> Region:
        """The full-resolution core's result; raises as PendingRegion.result does."""
        return self._enlarge(self._pending.result(timeout))
