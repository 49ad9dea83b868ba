"""The critic's maps as protobuf messages: the layout of a stream's maps and each tile's blocks."""

from __future__ import annotations

import numpy as np

from inference_server.critic import Critic, Grid, MapBlock, TileMaps
from tessera.v1 import style_transfer_pb2 as pb


def maps_layout(critic: Critic, width: int, height: int) -> pb.MapsLayout:
    """Where the map cells of a width x height image lie, and how to read them."""
    realism, gradcam = critic.grids(width, height)
    return pb.MapsLayout(realism=_grid(realism), gradcam=_grid(gradcam), score=critic.info.score,
                         receptive_field=critic.info.receptive_field, origin=critic.info.origin, width=width,
                         height=height)


def tile_maps(maps: TileMaps) -> pb.CriticMaps:
    return pb.CriticMaps(realism=_block(maps.realism), gradcam=_block(maps.gradcam))


def _grid(grid: Grid) -> pb.MapGrid:
    return pb.MapGrid(width=grid.width, height=grid.height, stride=grid.stride, offset=grid.offset)


def _block(block: MapBlock) -> pb.MapBlock:
    height, width = block.values.shape
    return pb.MapBlock(x=block.x, y=block.y, width=width, height=height,
                       values=block.values.astype("<f4", copy=False).tobytes())


def whole_maps(layout: pb.MapsLayout, blocks: list[TileMaps]) -> pb.CriticMaps:
    """One block per map covering the whole grid, assembled from the tiles' blocks."""
    grids = {"realism": np.zeros((layout.realism.height, layout.realism.width), np.float32),
             "gradcam": np.zeros((layout.gradcam.height, layout.gradcam.width), np.float32)}
    for tile in blocks:
        for name, grid in grids.items():
            block = getattr(tile, name)
            h, w = block.values.shape
            grid[block.y:block.y + h, block.x:block.x + w] = block.values
    return pb.CriticMaps(**{name: _block(MapBlock(0, 0, grid)) for name, grid in grids.items()})
