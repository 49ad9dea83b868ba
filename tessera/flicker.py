"""Flicker of a restyled clip, measured two ways.

The warping error (the measure of Lai et al., "Learning Blind Video Temporal Consistency", 2018):
each output frame is compared with the previous output frame warped onto it by the optical flow of
the *input* frames, over the pixels the flow can follow (tessera.optical_flow.trusted: forward and
backward flows agree, the warped position lies inside the frame). The error is the mean absolute
difference in 8-bit levels over those pixels and the three channels, averaged over consecutive pairs.
Run on the input frames themselves it gives the clip's own figure: what the camera's noise and the
flow's misses leave. The flow is DIS (medium preset, full size) by default, or Farneback's, a
different family from the DIS flow that tessera.temporal_blend steers by, so that a blended clip is
not judged only by the flow it was made with.

The static-region difference needs no flow at all: the mean absolute difference of consecutive
output frames over the pixels where the input did not change (its blurred luma moved by less than
STATIC_LEVELS), averaged over pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tessera.optical_flow import dis_flow, farneback_flow, grey, sample, trusted

FLOWS = ("dis", "farneback")
STATIC_LEVELS = 2.0  # input change (Gaussian-blurred luma, sigma 1.5 px) below which a pixel counts as still


def _flows(prev_grey: np.ndarray, next_grey: np.ndarray, flow: str) -> tuple[np.ndarray, np.ndarray]:
    """(backward, forward): next -> prev and prev -> next."""
    if flow == "dis":
        return dis_flow(next_grey, prev_grey), dis_flow(prev_grey, next_grey)
    if flow == "farneback":
        return farneback_flow(next_grey, prev_grey), farneback_flow(prev_grey, next_grey)
    raise ValueError(f"flow must be one of {', '.join(FLOWS)}, not {flow!r}")


def pair_error(prev_in: np.ndarray, next_in: np.ndarray, prev_out: np.ndarray, next_out: np.ndarray,
               flow: str = "dis") -> float:
    """Warping error in levels between two consecutive output frames (HxWx3 uint8), using the flow of
    the two input frames; NaN when no pixel passes the occlusion test."""
    backward, forward = _flows(grey(prev_in), grey(next_in), flow)
    valid = trusted(backward, forward)
    if not valid.any():
        return float("nan")
    warped = sample(prev_out.astype(np.float32), backward)
    difference = np.abs(next_out.astype(np.float32) - warped).mean(axis=2)
    return float(difference[valid].mean())


def _check_pairs(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> None:
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError(f"need the same number of input and output frames, at least 2; got "
                         f"{len(inputs)} and {len(outputs)}")


def warping_error(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], flow: str = "dis") -> float:
    """Mean warping error in levels (0..255) over consecutive pairs of `outputs`, aligned by the flow
    (`flow`: 'dis' or 'farneback') of `inputs` (same count, same HxWx3 uint8 size). Pass `inputs` twice
    for the clip's own figure. Raises ValueError for mismatched sequences or an unknown flow."""
    _check_pairs(inputs, outputs)
    errors = [pair_error(inputs[i - 1], inputs[i], outputs[i - 1], outputs[i], flow) for i in range(1, len(inputs))]
    return float(np.nanmean(errors))


def _blurred_luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(grey(rgb).astype(np.float32), (0, 0), 1.5)


def static_difference(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Mean absolute difference in levels of consecutive `outputs` over the pixels whose input stayed
    still (blurred luma changed by < STATIC_LEVELS), averaged over the pairs that have such pixels;
    NaN when none has. No optical flow involved."""
    _check_pairs(inputs, outputs)
    lumas = [_blurred_luma(f) for f in inputs]
    figures = []
    for i in range(1, len(inputs)):
        still = np.abs(lumas[i] - lumas[i - 1]) < STATIC_LEVELS
        if still.any():
            difference = np.abs(outputs[i].astype(np.int16) - outputs[i - 1]).mean(axis=2)
            figures.append(float(difference[still].mean()))
    return float(np.mean(figures)) if figures else float("nan")


def frame_difference(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute difference in levels between consecutive frames, no alignment (for a still clip)."""
    if len(frames) < 2:
        raise ValueError("need at least 2 frames")
    return float(np.mean([np.abs(frames[i].astype(np.int16) - frames[i - 1]).mean() for i in range(1, len(frames))]))
