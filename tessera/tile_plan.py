"""Choosing the tile shape for one image: the client's side of tiling, from the image's size, the
model's halo and stride, the server's limits and how many streams share the work.

Every tile computes its core plus a halo on each side that it throws away, so small tiles waste
compute (a 512 px core with a 40 px halo computes 34% more pixels than it keeps) and large tiles
waste parallelism: the last tile of a stream runs alone, and progress comes once per tile. The
choice minimises a cost in pixels that adds up both:

    computed pixels / streams  +  one padded tile  +  tiles x TILE_OVERHEAD_PIXELS / streams

subject to the server's limits (edge and area) and a cap on the area that keeps one tile well
under a second of work, so progress events keep coming. Tiles are rectangles that follow the
image's shape, so a 2,000,000 x 1 image is cut into ~120 long strips, not thousands of squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessera.pixels import MIN_EDGE
from tessera.tiling import MAX_TILE_BYTES, MAX_TILE_EDGE, MAX_TILE_PIXELS, min_tile_edge, round_up

# About 3 ms of fixed work per tile (messages, thread hand-offs, a runtime call) at ~5 MP/s.
TILE_OVERHEAD_PIXELS = 16_384
# One tile's area at most: ~0.2 s on 2 cores at 5 MP/s, under 0.5 s for the slowest shipped style,
# so a progress event arrives at least every second (bench/serving.py measures the rates).
PROGRESS_TILE_PIXELS = 1024 * 1024
MAX_TILES_PER_AXIS = 4096
_GROWTH = 1.12  # candidate tile counts per axis grow geometrically: a few dozen per axis


@dataclass(frozen=True)
class TileLimits:
    """What the server accepts and what the model needs; from TilingInfo (see tessera.style_facts)."""

    halo: int
    size_multiple: int = 1
    max_edge: int = MAX_TILE_EDGE
    max_pixels: int = MAX_TILE_PIXELS


def choose_tile_shape(width: int, height: int, limits: TileLimits, streams: int = 1,
                      max_pixels: int = PROGRESS_TILE_PIXELS) -> tuple[int, int]:
    """(tile width, tile height) in px for a width x height image: multiples of the size multiple,
    within the server's edge and area limits and `max_pixels`, whose tiles with their halos carry at
    most MAX_TILE_BYTES each, at the lowest cost (see module doc).

    Raises ValueError for an empty image or limits that leave no usable tile.
    """
    if width < 1 or height < 1:
        raise ValueError(f"need a positive image size, got {width}x{height}")
    multiple = max(1, limits.size_multiple)
    # The progress cap gives way to the smallest tile a server takes inside an image (a large halo).
    area_cap = min(limits.max_pixels, max(max_pixels, min_tile_edge(limits.halo, multiple) ** 2))
    cols = np.array(_axis_options(width, limits.halo, multiple, limits.max_edge), dtype=np.float64).reshape(-1, 5)
    rows = np.array(_axis_options(height, limits.halo, multiple, limits.max_edge), dtype=np.float64).reshape(-1, 5)
    # Every (column option, row option) pair at once: rows of `cols` x rows of `rows`.
    fits = np.outer(np.minimum(cols[:, 0], width), np.minimum(rows[:, 0], height)) <= area_cap
    fits &= np.outer(cols[:, 4], rows[:, 4]) * 3 <= MAX_TILE_BYTES
    tiles = np.outer(cols[:, 1], rows[:, 1])
    cost = (np.outer(cols[:, 2], rows[:, 2]) + tiles * TILE_OVERHEAD_PIXELS) / max(1, streams)
    cost += np.outer(cols[:, 3], rows[:, 3])
    if not fits.any():
        raise ValueError(f"no tile of a {width}x{height} image fits the limits {limits} "
                         f"and {area_cap:,} pixels per tile, at most {MAX_TILE_BYTES // 2**20} MiB with its halo")
    i, j = np.unravel_index(np.argmin(np.where(fits, cost, np.inf)), cost.shape)
    return int(cols[i, 0]), int(rows[j, 0])


def _axis_options(length: int, halo: int, multiple: int, max_edge: int) -> list[tuple[int, ...]]:
    """Candidate tile edges along one axis: (edge, tiles, computed px summed over tiles, the longest
    tile computed, the longest tile sent with its halo)."""
    fewest = -(-length // max(multiple, max_edge // multiple * multiple))
    most = min(-(-length // multiple), MAX_TILES_PER_AXIS)
    # What a server takes for a tile ending inside the image, or the whole axis when that is shorter.
    shortest = min(round_up(length, multiple), min_tile_edge(halo, multiple))
    # The edges of 1, 2, ... tiles, growing geometrically, and the shortest edge itself, which the area
    # caps may leave as the only one that fits beside another axis's (a large brush-scale halo).
    edges, count = [shortest], fewest
    while count <= max(most, fewest):
        edges.append(round_up(-(-length // count), multiple))
        count = max(count + 1, int(count * _GROWTH))
    options, seen = [], set()
    for edge in edges:
        if edge not in seen and shortest <= edge and min(edge, length) <= max_edge:
            seen.add(edge)
            options.append((edge, -(-length // edge), *_computed_length(length, edge, halo, multiple)))
    return options


def _computed_length(length: int, edge: int, halo: int, multiple: int) -> tuple[int, int, int]:
    """Pixels the model computes along one axis over all tiles (each padded to the stride and the
    minimum edge, as the server pads them), the longest single padded tile, and the longest span a
    tile is sent with (its core and halo, cut to the image)."""
    starts = np.arange(0, length, edge, dtype=np.int64)
    spans = np.minimum(length, starts + edge + halo) - np.maximum(0, starts - halo)
    padded = np.maximum(round_up(MIN_EDGE, multiple), -(-spans // multiple) * multiple)
    return int(padded.sum()), int(padded.max()), int(spans.max())
