"""The critic's maps on the client: gather the blocks a server streams, and draw them as heat maps.

A server sends each map as a grid of cells (tessera.v1 MapsLayout, MapBlock); this module puts the
blocks of every tile into one grid per map, turns values into "how much" in [0, 1] (the realism
score as a probability of "real"; Grad-CAM divided by the image's largest value), and upsamples
that bilinearly from the cell centres to the image's pixels, band by band, as an RGB8 heat map:
blue for 0, white for 1/2, red for 1 (docs/explain.md says how to read each map).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.v1 import style_transfer_pb2 as pb

MAP_NAMES = ("realism", "gradcam")
MAP_TITLES = {
    "realism": "realism map (red: the critic takes it for the style; blue: it sees a fake)",
    "gradcam": "Grad-CAM (red: what raised the critic's 'real' verdict most; blue: what did not raise it)",
}
BAND_ROWS = 256  # rows of heat map drawn at once: bounds the float work for large images
BLUE, WHITE, RED = (33, 102, 172), (247, 247, 247), (178, 24, 43)  # the heat maps' ramp, RGB8
_BLUE, _WHITE, _RED = (np.array(c, np.float32) for c in (BLUE, WHITE, RED))


@dataclass(frozen=True)
class MapGrid:
    width: int
    height: int
    stride: int
    offset: float

    @classmethod
    def from_proto(cls, grid: pb.MapGrid) -> MapGrid:
        return cls(grid.width, grid.height, max(1, grid.stride), grid.offset)


@dataclass
class CriticMaps:
    """Both maps of one image as float32 grids, with their layout (see MapsLayout in the proto)."""

    realism: np.ndarray
    gradcam: np.ndarray
    realism_grid: MapGrid
    gradcam_grid: MapGrid
    score: str
    origin: str = ""
    # Size of the image the critic judged (0: the size heat maps are drawn at). Under brush scale it is
    # the working resolution, and heat maps of the full-size result stretch the grids to it.
    width: int = 0
    height: int = 0

    @classmethod
    def empty(cls, layout: pb.MapsLayout) -> CriticMaps:
        r, g = MapGrid.from_proto(layout.realism), MapGrid.from_proto(layout.gradcam)
        return cls(np.zeros((r.height, r.width), np.float32), np.zeros((g.height, g.width), np.float32), r, g,
                   layout.score, layout.origin, layout.width, layout.height)

    def add(self, maps: pb.CriticMaps) -> None:
        """Place one tile's blocks; ValueError when a block does not fit its grid."""
        for name in MAP_NAMES:
            block: pb.MapBlock = getattr(maps, name)
            grid = getattr(self, name)
            values = np.frombuffer(block.values, dtype="<f4")
            if values.size != block.width * block.height or block.x + block.width > grid.shape[1] \
                    or block.y + block.height > grid.shape[0]:
                raise ValueError(f"a {name} block of {block.width}x{block.height} cells at ({block.x}, {block.y}) "
                                 f"does not fit the {grid.shape[1]}x{grid.shape[0]} grid")
            grid[block.y:block.y + block.height, block.x:block.x + block.width] = values.reshape(block.height,
                                                                                                  block.width)

    def strength(self, name: str) -> np.ndarray:
        """The map in [0, 1]: realism as a probability of "real", Grad-CAM over the image's largest value."""
        if name == "realism":
            if self.score == "logit":
                return (1.0 / (1.0 + np.exp(-self.realism.astype(np.float64)))).astype(np.float32)
            return np.clip(self.realism, 0.0, 1.0)
        peak = float(self.gradcam.max()) if self.gradcam.size else 0.0
        return self.gradcam / peak if peak > 0 else np.zeros_like(self.gradcam)

    def heat_map(self, name: str, width: int, height: int) -> np.ndarray:
        """The map as an HxWx3 uint8 image of the photo's size (blue 0, white 1/2, red 1)."""
        values = self.strength(name)
        grid = self.realism_grid if name == "realism" else self.gradcam_grid
        out = np.empty((height, width, 3), np.uint8)
        x_ratio = self.width / width if self.width else 1.0
        y_ratio = self.height / height if self.height else 1.0
        xs = _axis(0, width, x_ratio, grid.stride, grid.offset, values.shape[1])
        for top in range(0, height, BAND_ROWS):
            rows = _axis(top, min(BAND_ROWS, height - top), y_ratio, grid.stride, grid.offset, values.shape[0])
            out[top:top + BAND_ROWS] = colour(_bilinear(values, rows, xs))
        return out


def _axis(start: int, length: int, ratio: float, stride: int, offset: float,
          cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For pixels [start, start + length) of an axis drawn at 1/ratio of the judged image's size: (lower
    cell, upper cell, weight of the upper) at each pixel centre, clamped at the ends."""
    if cells == 0:
        zero = np.zeros(length, np.int64)
        return zero, zero, np.zeros(length, np.float32)
    position = np.clip(((np.arange(start, start + length) + 0.5) * ratio - offset) / stride, 0, cells - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, cells - 1)
    return low, high, (position - low).astype(np.float32)


def _bilinear(values: np.ndarray, rows, cols) -> np.ndarray:
    if values.size == 0:
        return np.full((len(rows[0]), len(cols[0])), 0.5, np.float32)
    (r0, r1, rw), (c0, c1, cw) = rows, cols
    top = values[r0][:, c0] * (1 - cw) + values[r0][:, c1] * cw
    bottom = values[r1][:, c0] * (1 - cw) + values[r1][:, c1] * cw
    return top * (1 - rw[:, None]) + bottom * rw[:, None]


def colour(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as RGB8: blue at 0, near-white at 1/2, red at 1 (a diverging ramp)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    low = _BLUE + (_WHITE - _BLUE) * (v * 2)
    high = _WHITE + (_RED - _WHITE) * (v * 2 - 1)
    return np.where(v < 0.5, low, high).round().astype(np.uint8)


def heat_map_paths(result: Path) -> dict[str, Path]:
    """Where the heat maps of a result file go: beside it, <stem>.realism.png and <stem>.gradcam.png."""
    return {name: result.with_name(f"{result.stem}.{name}.png") for name in MAP_NAMES}
