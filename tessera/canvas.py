"""Reassembles tile results into the output image, by cropping or by feathered blending."""

from __future__ import annotations

import numpy as np

from tessera.tiling import Rect, feather_weights


class Canvas:
    """The output image being filled in, tile result by tile result.

    In "crop" mode each result covers its core exactly once. In "feather" mode each result covers
    its padded rectangle and overlapping results are averaged with feathered weights.
    """

    def __init__(self, width: int, height: int, mode: str) -> None:
        if mode not in ("crop", "feather"):
            raise ValueError(f"unknown tiling mode {mode!r}")
        self.mode = mode
        self._pixels = np.zeros((height, width, 3), dtype=np.uint8 if mode == "crop" else np.float32)
        self._weights = None if mode == "crop" else np.zeros((height, width, 1), dtype=np.float32)

    def add(self, rect: Rect, rgb: bytes, core: Rect) -> None:
        """Place one result. `rect` is where its pixels lie; `core` is the tile's core."""
        expected = rect.width * rect.height * 3
        if len(rgb) != expected:
            raise ValueError(f"tile result at ({rect.x}, {rect.y}) has {len(rgb)} bytes, expected {expected}")
        pixels = np.frombuffer(rgb, dtype=np.uint8).reshape(rect.height, rect.width, 3)
        if self._weights is None:
            self._pixels[rect.slices()] = pixels
            return
        weights = feather_weights(rect, core)[:, :, None]
        self._pixels[rect.slices()] += pixels * weights
        self._weights[rect.slices()] += weights

    def image(self) -> np.ndarray:
        """The assembled HxWx3 uint8 image."""
        if self._weights is None:
            return self._pixels
        blended = self._pixels / np.maximum(self._weights, 1e-6)
        return np.clip(np.round(blended), 0, 255).astype(np.uint8)
