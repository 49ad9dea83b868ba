"""Temporal noise reduction of a clip's input frames, so that sensor noise does not become flicker.

Restyling networks amplify small input changes: on the generated still clip (1.45 levels of noise
between frames) the shipped styles' outputs differ by 0.9 to 12 levels from frame to frame, even with
their context statistics shared. Sharing statistics removes the frame-wide shifts; this removes the
noise that every pixel would otherwise carry into the network.

A recursive filter with motion detection, per pixel, no optical flow: the filtered frame follows the
new one by a weight k that depends on how far apart they are (d, the largest of the three channel
differences, in levels): k = ALPHA for d <= THRESHOLD (noise: average it away), rising linearly to 1
at 2 x THRESHOLD and beyond (motion or a cut: take the new pixel as it is). A pixel that stays still
thus converges to its mean; anything that moves or changes by more than the noise passes through.
"""

from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 6.0  # levels: about 3 sigma of the still clip's noise at mid-grey (scripts/make_clips.py)
ALPHA = 0.25


class TemporalDenoise:
    """Feed frames in order: `__call__(rgb)` returns the filtered HxWx3 uint8 frame."""

    def __init__(self, threshold: float = THRESHOLD, alpha: float = ALPHA) -> None:
        if threshold <= 0 or not 0 < alpha <= 1:
            raise ValueError(f"threshold must be > 0 and alpha in (0, 1], got {threshold} and {alpha}")
        self.threshold, self.alpha = threshold, alpha
        self._state: np.ndarray | None = None  # float32 HxWx3

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        frame = rgb.astype(np.float32)
        if self._state is None or self._state.shape != frame.shape:
            self._state = frame
            return rgb
        channels = cv2.split(cv2.absdiff(frame, self._state))
        distance = cv2.max(cv2.max(channels[0], channels[1]), channels[2])
        weight = np.clip((distance - self.threshold) / self.threshold, 0.0, 1.0) * (1 - self.alpha) + self.alpha
        self._state = cv2.blendLinear(frame, self._state, weight, 1.0 - weight)  # state + weight x change
        return cv2.convertScaleAbs(self._state)  # rounded to uint8 (never negative)
