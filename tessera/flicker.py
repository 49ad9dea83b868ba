"""Flicker of a restyled clip, measured as the warping error (the measure of Lai et al., "Learning
Blind Video Temporal Consistency", 2018): each output frame is compared with the previous output frame
warped onto it by the optical flow of the *input* frames, over the pixels the flow can follow.

Flow: OpenCV's DIS optical flow (medium preset) on the greyscale inputs, both ways. Occlusion mask:
a pixel counts only where the forward and backward flows agree (the consistency test of Sundaram,
Brox and Keutzer, 2010: |f + b|^2 < 0.01 (|f|^2 + |b|^2) + 0.5) and the warped position lies inside
the frame. The error is the mean absolute difference in 8-bit levels over valid pixels and the three
channels, averaged over consecutive pairs. Run on the input frames themselves it gives the clip's own
figure: what the camera's noise and the flow's misses leave.

Needs opencv-python-headless (the dev extra); imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _flow(a_grey: np.ndarray, b_grey: np.ndarray) -> np.ndarray:
    """HxWx2 float32 flow from frame a to frame b (a pixel at p in a is at p + flow in b)."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(a_grey, b_grey, None)


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at p + flow(p) for every pixel p (bilinear), float32."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), grid_x + flow[..., 0], grid_y + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pair_error(prev_in: np.ndarray, next_in: np.ndarray, prev_out: np.ndarray, next_out: np.ndarray) -> float:
    """Warping error in levels between two consecutive output frames (HxWx3 uint8), using the flow of
    the two input frames; NaN when no pixel passes the occlusion test."""
    grey_prev, grey_next = _grey(prev_in), _grey(next_in)
    backward = _flow(grey_next, grey_prev)  # next -> prev: where each pixel of `next` was
    forward = _flow(grey_prev, grey_next)
    forward_there = _sample(forward, backward)
    mismatch = np.sum((backward + forward_there) ** 2, axis=2)
    bound = 0.01 * (np.sum(backward ** 2, axis=2) + np.sum(forward_there ** 2, axis=2)) + 0.5
    height, width = backward.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    target_x, target_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    valid = (mismatch < bound) & inside
    if not valid.any():
        return float("nan")
    warped = _sample(prev_out, backward)
    difference = np.abs(next_out.astype(np.float32) - warped).mean(axis=2)
    return float(difference[valid].mean())


def warping_error(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Mean warping error in levels (0..255) over consecutive pairs of `outputs`, aligned by the flow
    of `inputs` (same count, same HxWx3 uint8 size). Pass `inputs` twice for the clip's own figure."""
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError(f"need the same number of input and output frames, at least 2; got "
                         f"{len(inputs)} and {len(outputs)}")
    errors = [pair_error(inputs[i - 1], inputs[i], outputs[i - 1], outputs[i]) for i in range(1, len(inputs))]
    return float(np.nanmean(errors))


def frame_difference(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute difference in levels between consecutive frames, no alignment (for a still clip)."""
    if len(frames) < 2:
        raise ValueError("need at least 2 frames")
    return float(np.mean([np.abs(frames[i].astype(np.int16) - frames[i - 1]).mean() for i in range(1, len(frames))]))
