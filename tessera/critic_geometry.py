"""Where a critic's map cells lie on the image: one definition for trainer, server and client.

A PatchGAN critic is a chain of convolutions, each given as (kernel, stride, padding) in pixels of
its input. Its output is a grid of cells; cell ``i`` sees input pixels ``[stride*i - pad, stride*i -
pad + rf)`` along each axis, where ``stride`` and ``pad`` are the chain's total stride and padding and
``rf`` its receptive field. The cell's centre is therefore ``stride*i + offset`` with ``offset = rf/2 -
pad``, in continuous pixel coordinates (pixel ``j`` spans ``[j, j+1)``).

A tile whose cells are kept only where their centre lies in the tile's core, and whose pixels reach
``ceil(rf/2)`` beyond the core (the critic's halo), gives exactly the whole image's cells, provided the
tile's padded origin is a multiple of the chain's stride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Layer = tuple[int, int, int]  # (kernel, stride, padding)


@dataclass(frozen=True)
class ChainGeometry:
    """Total stride, receptive field and centre offset (px) of a convolution chain."""

    stride: int
    receptive_field: int
    offset: float

    @property
    def halo(self) -> int:
        """Pixels a cell's centre needs on each side: ceil(receptive_field / 2)."""
        return math.ceil(self.receptive_field / 2)


def chain_geometry(layers: Sequence[Layer]) -> ChainGeometry:
    """The geometry of ``layers``; ValueError for an empty chain or a non-positive kernel or stride."""
    if not layers:
        raise ValueError("a critic needs at least one convolution")
    stride, rf, pad = 1, 1, 0
    for kernel, step, padding in layers:
        if kernel < 1 or step < 1 or padding < 0:
            raise ValueError(f"bad convolution (kernel {kernel}, stride {step}, padding {padding})")
        rf += (kernel - 1) * stride
        pad += padding * stride
        stride *= step
    return ChainGeometry(stride=stride, receptive_field=rf, offset=rf / 2 - pad)


def grid_length(layers: Sequence[Layer], size: int) -> int:
    """Cells along one axis for an input of ``size`` pixels (0 when the input is too small)."""
    for kernel, step, padding in layers:
        size = (size + 2 * padding - kernel) // step + 1
        if size < 1:
            return 0
    return size


def cells_in(start: int, length: int, stride: int, offset: float, grid: int) -> tuple[int, int]:
    """(first cell, count) of the cells whose centre lies in pixels ``[start, start + length)``."""
    first = max(0, math.ceil((start - offset) / stride))
    end = min(grid, math.ceil((start + length - offset) / stride))
    return first, max(0, end - first)
