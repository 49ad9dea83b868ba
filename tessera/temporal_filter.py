"""Temporal noise reduction of a clip's input frames, so that sensor noise does not become flicker.

Restyling networks amplify small input changes: on the generated still clip (1.43 levels of noise
between frames) the shipped styles' outputs differ by 2.7 to 18 levels from frame to frame, even with
their context statistics shared. Sharing statistics removes the frame-wide shifts; this removes the
noise that every pixel would otherwise carry into the network.

A recursive filter with motion detection, per pixel, no optical flow. The filtered frame follows the
new one by a gain k that depends on how far apart they are (d, the largest of the three channel
differences, in levels). Where d <= THRESHOLD (noise), k = max(FLOOR, 1 / n), n counting the frames
the pixel has stayed still: the running mean of those frames (the gain of a per-pixel Kalman filter
for a constant level), then an average over about 1 / FLOOR frames, so that what a still pixel hands
the network stops changing by more than a fraction of a level (the rounding to whole levels then
leaves most pixels exactly as they were). From THRESHOLD to 2 x THRESHOLD k rises linearly to 1
(motion or a cut: the new pixel as it is) and n starts again. A slow change (a fade, a gradient
sliding by) of under THRESHOLD levels a frame lags by at most about THRESHOLD levels.
"""

from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 6.0  # levels: about 3 sigma of the still clip's noise at mid-grey (scripts/make_clips.py)
FLOOR = 1 / 16  # the smallest gain: a still pixel averages about 16 frames (half a second at 30 fps)


def largest_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the largest of the three channel differences |a - b| of two HxWx3 frames of one dtype
    (uint8 saturates as it should), as HxW of that dtype: the mismatch this filter and the temporal
    blend judge frames by. The maximum is taken over strided channel views: cv2.split and
    ndarray.max(axis=2) each cost over 10 ms at 720p."""
    difference = cv2.absdiff(a, b)
    return np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2])


class TemporalDenoise:
    """Feed frames in order: `__call__(rgb)` returns the filtered HxWx3 uint8 frame (a frame of another
    size starts afresh). `threshold` > 0 in levels, `floor` in (0, 1]; raises ValueError otherwise."""

    def __init__(self, threshold: float = THRESHOLD, floor: float = FLOOR) -> None:
        if not threshold > 0 or not 0 < floor <= 1:
            raise ValueError(f"threshold must be > 0 and floor in (0, 1], got {threshold} and {floor}")
        self.threshold, self.floor = threshold, floor
        self._state: np.ndarray | None = None  # float32 HxWx3, the filtered frame
        self._still: np.ndarray | None = None  # float32 HxWx1, frames each pixel's state averages (n)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        frame = rgb.astype(np.float32)
        if self._state is None or self._state.shape != frame.shape:
            self._state = frame
            self._still = np.ones(frame.shape[:2] + (1,), np.float32)
            return rgb
        # The same arithmetic as written plainly, in float32 with fewer full-size temporaries (the
        # update in the frame's own buffer).
        distance = largest_difference(frame, self._state)[..., None]
        moved = np.clip((distance - self.threshold) / self.threshold, 0.0, 1.0)
        weight = moved + (1.0 - moved) * np.maximum(self.floor, 1.0 / (self._still + 1.0))
        step = np.subtract(frame, self._state, out=frame)
        self._state += np.multiply(weight, step, out=step)
        self._still += 1.0
        self._still[moved > 0] = 1.0  # the mean of n frames
        return cv2.convertScaleAbs(self._state)  # rounded to uint8 (never negative)
