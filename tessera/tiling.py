"""Tile geometry: how an image is cut into cores with halos, and how results go back together.

Both the client (cutting, blending) and the server (validating, cropping) use this module, so the
geometry lives in one place. A tile's *core* is the rectangle whose result it contributes; its
*padded* rectangle is the core grown by the halo on every side and clipped to the image.

Some models also take an *image border* (manifest `tiling.border`): the image extended by that many
pixels of edge replication before the model, cropped off after, so that no kept pixel sees the
zeros of the convolutions' padding. Only a region's sides on the image's edge get it (`image_border`):
inside the image the halo already holds real pixels, and extending there too would compute the
border around every tile (a 512 px core with a 40 px halo and a 40 px border: 1.72 times the pixels
it keeps, against 1.34 without).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TILE_SIZE = 16  # smallest square core edge a caller may ask for: smaller tiles cost more halo than they keep
DEFAULT_TILE_SIZE = 1024  # square core edge for callers that do not plan (the unary call, old clients)
MAX_TILE_SIZE = 1024  # largest square core edge a server offers (TilingInfo.max_tile_size)
MAX_TILE_EDGE = 16384  # longest core edge of a rectangular tile, for long thin images
MAX_TILE_PIXELS = MAX_TILE_SIZE * MAX_TILE_SIZE  # largest core area: bounds a server's memory per tile
MAX_HALO = 256
# The sides a style's statistics thumbnail may have (a manifest's tiling.thumbnail_size): clients send one of
# MAX_THUMBNAIL_SIZE when the style's is unknown, and the server warms a one-pass version on an image of it.
MIN_THUMBNAIL_SIZE = 16
MAX_THUMBNAIL_SIZE = 512
# The most RGB8 bytes one padded tile may carry: under the 64 MiB a Tessera client's messages carry
# (tessera.client.MAX_MESSAGE_BYTES), with room for the rest of the message. Only a brush-scale
# stream's halo comes near it (0.02 on a 150 MP photo: a 2700 px halo, 124 MB around a 1024 px core).
MAX_TILE_BYTES = 60 * 1024 * 1024
# Longest image side over its shortest. Beyond it tiles cost far more than their pixels: a 2,000,000x1
# strip took 123 tiles and 5x the time of a square of the same pixel count (docs/reliability.md).
MAX_ASPECT_RATIO = 1000


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def x1(self) -> int:
        return self.x + self.width

    @property
    def y1(self) -> int:
        return self.y + self.height

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of this rectangle in an image array."""
        return slice(self.y, self.y1), slice(self.x, self.x1)


def shape_error(width: int, height: int, max_ratio: int = MAX_ASPECT_RATIO) -> str:
    """Why an image of this size is too long and thin to restyle ('' when it is not): one side may
    be at most `max_ratio` times the other. Sizes below 1 are left to the callers' own checks."""
    if min(width, height) >= 1 and max(width, height) > max_ratio * min(width, height):
        return (f"the image is {width}×{height} pixels: one side may be at most {max_ratio:,} times the other; "
                "crop or pad it first")
    return ""


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_size_for(requested: int | None, size_multiple: int, max_size: int = MAX_TILE_SIZE,
                  min_size: int = 1) -> int:
    """A core edge near `requested` that is a multiple of the model's stride and within limits: at
    most `max_size`, at least `min_size` (rounded up to the stride; `min_tile_edge` of the halo)."""
    size = requested or DEFAULT_TILE_SIZE
    size = min(max(size, size_multiple, round_up(min_size, size_multiple)), max_size)
    return max(size_multiple, size // size_multiple * size_multiple)


def min_core_edge(halo: int, multiple: int = 1) -> int:
    """The shortest core edge, in px, a server takes for a tile that does not reach the image's far
    edge on that axis: MIN_TILE_SIZE, or the halo when that is longer. A tile computes its core plus
    the halo on each side, so an h px square core with an h px halo computes 9 times the pixels it
    keeps; smaller cores would let a client make the server compute many times more than the image
    (16 px cores with a 64 px halo: 81 times). The last column and row of a plan are cut to the image,
    so they may be shorter. At most the largest tile on the grid of `multiple` px (MAX_TILE_SIZE
    rounded down to it): a brush-scale stream's halo can pass MAX_TILE_SIZE (a 150 MP photo at the
    auto scale: 1086 px), and a tile may not."""
    return min(max(MIN_TILE_SIZE, halo), _largest_on_grid(multiple))


def min_tile_edge(halo: int, multiple: int) -> int:
    """The shortest core edge, in px, on the stride `multiple` that a server takes inside an image:
    `min_core_edge` rounded up to the stride, and never past the largest tile on it. The floor of
    every Tessera tile cutter (the client's forced tile size, its planner, the unary call)."""
    return min(round_up(max(MIN_TILE_SIZE, halo), multiple), _largest_on_grid(multiple))


def _largest_on_grid(multiple: int) -> int:
    return max(multiple, MAX_TILE_SIZE // multiple * multiple)


def halo_for(model_halo: int, size_multiple: int) -> int:
    """The halo to cut: the model's, rounded up so padded tiles stay aligned to its stride."""
    return round_up(model_halo, size_multiple)


def plan_tiles(width: int, height: int, tile_size: int, tile_height: int | None = None) -> list[Rect]:
    """Cores of `tile_size` x `tile_height` (default square) that cover a width x height image
    exactly once, row by row; the last column and row are cut to the image."""
    tile_height = tile_height or tile_size
    if width < 1 or height < 1 or tile_size < 1 or tile_height < 1:
        raise ValueError(f"need a positive image and tile size, got {width}x{height} and {tile_size}x{tile_height}")
    return [
        Rect(x, y, min(tile_size, width - x), min(tile_height, height - y))
        for y in range(0, height, tile_height)
        for x in range(0, width, tile_size)
    ]


def padded_rect(core: Rect, halo: int, width: int, height: int) -> Rect:
    """The core grown by `halo` on every side, clipped to the width x height image."""
    x0, y0 = max(0, core.x - halo), max(0, core.y - halo)
    x1, y1 = min(width, core.x1 + halo), min(height, core.y1 + halo)
    return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class Border:
    """Pixels of edge replication added on each side of a region before the model runs."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __bool__(self) -> bool:
        return any((self.top, self.bottom, self.left, self.right))


NO_BORDER = Border()

def image_border(region: Rect, width: int, height: int, border: int) -> Border:
    """The image border a region of a width x height image gets: `border` px on each of its sides
    that lies on the image's edge, none on the others. A whole image gets it on all four sides."""
    return Border(top=border if region.y == 0 else 0, bottom=border if region.y1 == height else 0,
                  left=border if region.x == 0 else 0, right=border if region.x1 == width else 0)


def extend(pixels: np.ndarray, border: Border, channels_first: bool = False) -> np.ndarray:
    """`pixels` (HxWxC, or CxHxW with `channels_first`) with `border` added by edge replication; the
    array itself when there is none."""
    if not border:
        return pixels
    rows, columns = (border.top, border.bottom), (border.left, border.right)
    widths = ((0, 0), rows, columns) if channels_first else (rows, columns, (0, 0))
    return np.pad(pixels, widths, mode="edge")


def remove_border(output: np.ndarray, border: Border, height: int, width: int) -> np.ndarray:
    """The height x width region out of a CxH'xW' model output computed on the region with `border`
    (and any padding to the stride below and right of it): a view, no copy."""
    return output[:, border.top:border.top + height, border.left:border.left + width]


def core_error(core: Rect, width: int, height: int, max_size: int = MAX_TILE_EDGE,
               max_pixels: int = MAX_TILE_PIXELS, min_edge: int = 1) -> str | None:
    """Why a core rectangle is unusable for a width x height image, or None when it is fine.

    A core may be rectangular: each edge up to `max_size` px and its area up to `max_pixels`, and at
    least `min_edge` px (`min_core_edge`) along an axis on which it does not reach the image's far edge.
    """
    if core.width < 1 or core.height < 1:
        return f"tile {core.width}x{core.height} is empty"
    if core.width > max_size or core.height > max_size:
        return f"tile {core.width}x{core.height} exceeds the maximum tile edge of {max_size} px"
    if core.width * core.height > max_pixels:
        return (f"tile {core.width}x{core.height} has {core.width * core.height:,} pixels, more than the "
                f"maximum of {max_pixels:,} per tile")
    if core.x1 > width or core.y1 > height:
        return (f"tile at ({core.x}, {core.y}) of size {core.width}x{core.height} reaches past the "
                f"{width}x{height} image")
    for edge, side, reaches in ((core.width, "wide", core.x1 == width), (core.height, "tall", core.y1 == height)):
        if edge < min_edge and not reaches:
            return (f"tile at ({core.x}, {core.y}) of size {core.width}x{core.height} is {edge} px {side} and "
                    f"ends inside the {width}x{height} image; such a tile must be at least {min_edge} px on "
                    "that side (the halo's width, at least 16 px), so that it keeps more than its halo costs")
    return None


def crop_core(padded_output: np.ndarray, core: Rect, padded: Rect) -> np.ndarray:
    """The core's pixels out of an output computed on the padded rectangle (HxWxC)."""
    top, left = core.y - padded.y, core.x - padded.x
    return padded_output[top:top + core.height, left:left + core.width]


def feather_weights(padded: Rect, core: Rect) -> np.ndarray:
    """Blend weights (HxW, float32) for a padded tile: 1 over the core, ramping down across each
    halo that overlaps a neighbour, so overlapping tiles fade into each other without seams."""
    wy = _ramp(padded.y, padded.y1, core.y, core.y1)
    wx = _ramp(padded.x, padded.x1, core.x, core.x1)
    return np.outer(wy, wx).astype(np.float32)


def _ramp(start: int, stop: int, core_start: int, core_stop: int) -> np.ndarray:
    positions = np.arange(start, stop, dtype=np.float32) + 0.5
    weights = np.ones(stop - start, dtype=np.float32)
    if core_start > start:
        before = positions < core_start
        weights[before] = (positions[before] - start) / (core_start - start)
    if core_stop < stop:
        after = positions >= core_stop
        weights[after] = (stop - positions[after]) / (stop - core_stop)
    return np.clip(weights, 1e-3, 1.0)


def thumbnail_shape(width: int, height: int, longest: int, min_short: int = 0) -> tuple[int, int]:
    """(width, height) of a thumbnail whose longest side is at most `longest`; neither side is shrunk
    under `min_short` px (or its own, when shorter), so a strip's thumbnail is squeezed along its length
    only (8000x16 to 512x16 with min_short 16)."""
    scale = min(1.0, longest / max(width, height))
    return (max(1, round(width * scale), min(min_short, width)),
            max(1, round(height * scale), min(min_short, height)))
