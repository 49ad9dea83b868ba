"""A version's critic on the server: load and check ``critic.onnx``, then compute a tile's maps.

The maps of a tile are the cells whose centres lie in its core (tessera.critic_geometry), computed on
the stylized result of the padded tile. The stream's halo is the generator's plus the critic's, so
every pixel a kept cell sees is exact, and the tiled maps equal the whole image's. Grad-CAM's channel
weights come from the whole image's grid size (``score_grid``), the same for every tile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference_server.version_checks import VersionRejected
from tessera.critic_geometry import cells_in, chain_geometry, grid_length
from tessera.onnx_session import SHARED_ARENA, open_session
from tessera.pixels import rgb8_to_nchw
from tessera.registry.critic import (
    CRITIC_GRID_INPUT,
    CRITIC_IMAGE_INPUT,
    CRITIC_PHOTO_INPUT,
    GRADCAM_OUTPUT,
    REALISM_OUTPUT,
    CriticInfo,
)
from tessera.tiling import Rect

PROBE_SIDE = 64


@dataclass(frozen=True)
class Grid:
    """One map over a whole image: cells, and where cell (0, 0)'s centre lies (see tessera.critic_geometry)."""

    width: int
    height: int
    stride: int
    offset: float


@dataclass(frozen=True)
class MapBlock:
    """Cells [x, x + values.shape[1]) x [y, y + values.shape[0]) of a grid, float32."""

    x: int
    y: int
    values: np.ndarray


@dataclass(frozen=True)
class TileMaps:
    realism: MapBlock
    gradcam: MapBlock


class Critic:
    """critic.onnx with its manifest section; ``maps`` is safe to call from several threads."""

    def __init__(self, path: Path, info: CriticInfo, threads: int = 1) -> None:
        self.info = info
        self._realism = chain_geometry(info.realism_layers)
        self._gradcam = chain_geometry(info.gradcam_layers)
        self._lock = threading.Lock()
        try:
            self._session = open_session(path, threads)
        except Exception as exc:  # onnxruntime's own exception types
            raise VersionRejected(f"critic {path.name} cannot be loaded: {exc}", "critic") from None
        self._check_io(path.name)

    @property
    def halo(self) -> int:
        return self.info.halo

    @property
    def stride(self) -> int:
        return self._realism.stride

    @property
    def min_side(self) -> int:
        """The shortest image side, px, on which both maps have a cell: a smaller image gives the
        critic nothing to judge (its convolutions need their kernels' width)."""
        side = 1
        while min(grid_length(self.info.realism_layers, side), grid_length(self.info.gradcam_layers, side)) < 1:
            side += 1
        return side

    def grids(self, width: int, height: int) -> tuple[Grid, Grid]:
        """(realism, gradcam) grids of a width x height image."""
        return tuple(Grid(grid_length(layers, width), grid_length(layers, height), geo.stride, geo.offset)
                     for layers, geo in ((self.info.realism_layers, self._realism),
                                         (self.info.gradcam_layers, self._gradcam)))

    def run(self, styled: np.ndarray, photo: np.ndarray, score_grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(realism, gradcam) [h, w] float32 grids of one HxWx3 uint8 stylized region and its photo."""
        feeds = {CRITIC_IMAGE_INPUT: rgb8_to_nchw(styled),
                 CRITIC_GRID_INPUT: np.asarray(score_grid, dtype=np.float32)}
        if self.info.conditional:
            feeds[CRITIC_PHOTO_INPUT] = rgb8_to_nchw(photo)
        with SHARED_ARENA.running():
            realism, gradcam = self._session.run([REALISM_OUTPUT, GRADCAM_OUTPUT], feeds)
        return realism[0, 0], gradcam[0, 0]

    def maps(self, styled: np.ndarray, photo: np.ndarray, padded: Rect, core: Rect, width: int,
             height: int) -> TileMaps:
        """The cells of both maps whose centres lie in ``core``, from the padded region's result and photo.

        ``padded`` must start on a multiple of the critic's stride (ImageJob checks the cores).
        """
        realism_grid, gradcam_grid = self.grids(width, height)
        realism, gradcam = self.run(styled, photo, (realism_grid.height, realism_grid.width))
        return TileMaps(_kept(realism, realism_grid, padded, core), _kept(gradcam, gradcam_grid, padded, core))

    def _check_io(self, name: str) -> None:
        inputs = {i.name for i in self._session.get_inputs()}
        wanted = {CRITIC_IMAGE_INPUT, CRITIC_GRID_INPUT} | ({CRITIC_PHOTO_INPUT} if self.info.conditional else set())
        outputs = {o.name for o in self._session.get_outputs()}
        if inputs != wanted or not {REALISM_OUTPUT, GRADCAM_OUTPUT} <= outputs:
            raise VersionRejected(f"critic {name} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; expected "
                                  f"inputs {sorted(wanted)} and outputs {REALISM_OUTPUT}, {GRADCAM_OUTPUT}", "critic")
        probe = np.full((PROBE_SIDE, PROBE_SIDE, 3), 128, np.uint8)
        probe[::2, ::3] = 250
        grid = self.grids(PROBE_SIDE, PROBE_SIDE)[0]
        try:
            realism, gradcam = self.run(probe, probe, (grid.height, grid.width))
        except Exception as exc:
            raise VersionRejected(f"critic {name} failed on a probe tile: {exc}", "critic") from None
        finite = np.isfinite(realism).all() and np.isfinite(gradcam).all()
        if realism.shape != (grid.height, grid.width) or not finite:
            raise VersionRejected(f"critic {name} gave a {realism.shape} realism grid with non-finite values or "
                                  f"not the {grid.height}x{grid.width} its layers give", "critic")


def _kept(values: np.ndarray, grid: Grid, padded: Rect, core: Rect) -> MapBlock:
    x0, nx = cells_in(core.x, core.width, grid.stride, grid.offset, grid.width)
    y0, ny = cells_in(core.y, core.height, grid.stride, grid.offset, grid.height)
    lx, ly = x0 - padded.x // grid.stride, y0 - padded.y // grid.stride
    block = values[ly:ly + ny, lx:lx + nx]
    if block.shape != (ny, nx) or lx < 0 or ly < 0:
        raise ValueError(f"the critic's grid of the region at ({padded.x}, {padded.y}) does not cover its core")
    return MapBlock(x0, y0, np.ascontiguousarray(block, dtype=np.float32))


def load_critic(version_dir: Path, manifest, threads: int = 1) -> Critic | None:
    """The version's critic, or None when it ships none; VersionRejected when it is broken."""
    info = getattr(manifest, "critic", None)
    artifact = manifest.artifacts.critic
    if info is None or artifact is None:
        return None
    return Critic(version_dir / artifact.file, info, threads)
