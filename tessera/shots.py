"""Shot detection for video, so that a clip's frames share their context statistics within a shot.

A compact or style-conditioned model takes image-wide statistics from a thumbnail (the stream
header's). Computed from every frame anew, they move with noise and motion, and the whole frame's
look shifts with them: flicker. `ShotContext` instead keeps one picture per shot, the shot's first
frame, and hands it to every frame of that shot.

A new shot starts where the colour histograms of two consecutive frames differ by more than
`CUT_THRESHOLD`: per RGB channel, a 16-bin histogram of a 64 px thumbnail, normalised to sum 1; the
difference is half the L1 distance (0 for identical histograms, 1 for disjoint ones), averaged over
the three channels. A pan or a moving object changes it by a few hundredths per frame; a cut to
another scene by far more (tests/test_shots.py).
"""

from __future__ import annotations

import numpy as np

from tessera.imageio import make_thumbnail

BINS = 16
HISTOGRAM_SIDE = 64
CUT_THRESHOLD = 0.3


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """[3, BINS] float64 histograms (each sums to 1) of an HxWx3 uint8 frame's 64 px thumbnail."""
    small = make_thumbnail(rgb, HISTOGRAM_SIDE).reshape(-1, 3)
    counts = np.stack([np.bincount(small[:, c] // (256 // BINS), minlength=BINS) for c in range(3)])
    return counts / counts.sum(axis=1, keepdims=True)


def histogram_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two [3, BINS] histograms, averaged over channels: 0..1."""
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


class ShotContext:
    """Feed frames in order; `context_for(frame)` returns the picture whose statistics that frame gets.

    `mode` 'shot' (default): the first frame of the frame's shot. 'frame': the frame itself (per-frame
    statistics, the behaviour of restyling frames one by one; kept for comparison).
    """

    def __init__(self, mode: str = "shot", threshold: float = CUT_THRESHOLD) -> None:
        if mode not in ("shot", "frame"):
            raise ValueError(f"statistics must be 'shot' or 'frame', not {mode!r}")
        self.mode, self.threshold = mode, threshold
        self.shots = 0
        self._previous: np.ndarray | None = None
        self._key: np.ndarray | None = None

    def context_for(self, rgb: np.ndarray) -> np.ndarray:
        histogram = colour_histogram(rgb)
        if self._previous is None or histogram_difference(histogram, self._previous) > self.threshold:
            self.shots += 1
            self._key = rgb
        self._previous = histogram
        return rgb if self.mode == "frame" else self._key
