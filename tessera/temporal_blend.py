"""Flow-guided temporal blending of restyled frames: each output frame is mixed with the previous
*output* frame warped onto it by the optical flow of the *input* frames, where that flow can be
trusted. This is the short-term consistency of Ruder et al. (2016) and the blind post-processing of
Bonneel et al. (2015) and Lai et al. (2018), done on whole frames after their tiles came back (so it
cannot make seams), without any training.

Why: a restyling network amplifies small input changes (noise, sub-pixel motion) into texture that
changes every frame; shared statistics and the noise filter remove only part of it (docs/video.md).

Per pixel p of frame t, with B the flow from input t back to input t-1 (DIS, `PRESET`, on frames
shrunk to `FLOW_SIDE` px, tessera.optical_flow):

    confidence(p) = WEIGHT * trusted(p) * exp(-(e(p) / TOLERANCE)^2) * clip(d(p) / REACH - 1, 0, 1)
    output'_t(p)  = output_t(p) + confidence(p) * (output'_{t-1}(p + B(p)) - output_t(p))

`trusted` is the forward-backward consistency test (occlusions, disocclusions, flow leaving the
frame); e is the largest channel difference in levels between input t and input t-1 warped by B, so
where the flow is wrong (a moving object's edge, a reveal, a lighting change) the input does not
match and the previous output is not used; d is the distance to the nearest pixel whose mismatch
is beyond UNEXPLAINED x TOLERANCE (an object's edge, a reveal): a network paints beyond an object's
outline, so near one its output changes where its input does not. No ghost trail. The blend is
recursive (output' feeds the next frame), so a pixel that stays put averages about 1 / (1 - WEIGHT)
frames; the previous output is warped bicubically and kept in float to limit the softening of
repeated resampling. A cut resets it.
"""

from __future__ import annotations

import numpy as np

WEIGHT = 0.9  # largest share of the warped previous output: about 10 frames of memory where nothing moves
TOLERANCE = 8.0  # levels of input mismatch at which the share falls to 1/e of WEIGHT
FLOW_SIDE = 480  # the flow is worked out on frames shrunk to this longer side (cost: a 720p frame is 2.7x that)
PRESET = "fast"
REACH = 24  # px around an input change the flow cannot explain with no share, and as many again to ramp up
UNEXPLAINED = 5.0  # x TOLERANCE: an input change the flow cannot explain (a reveal, an object's edge)


class TemporalBlend:
    """Feed frames in order: `__call__(input, output)` returns the blended output (HxWx3 uint8, the
    size of `output`); `input` is the frame the network saw (HxWx3 uint8, same size). `reset()` at a
    cut. `weight` in [0, 1) (0 returns outputs unchanged); raises ValueError otherwise."""

    def __init__(self, weight: float = WEIGHT, tolerance: float = TOLERANCE, flow_side: int = FLOW_SIDE,
                 preset: str = PRESET) -> None:
        if not 0 <= weight < 1 or tolerance <= 0 or flow_side < 16:
            raise ValueError(f"weight must be in [0, 1), tolerance > 0 and flow_side >= 16; got {weight}, "
                             f"{tolerance} and {flow_side}")
        self.weight, self.tolerance, self.flow_side, self.preset = weight, tolerance, flow_side, preset
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (a new shot starts)."""
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # the last input, shrunk: (RGB, grey)
        self._output: np.ndarray | None = None  # float32 HxWx3, the previous blended output

    def _shrink(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frame shrunk to `flow_side` on its longer side (area average), and its grey."""
        import cv2

        from tessera.optical_flow import grey

        height, width = rgb.shape[:2]
        scale = self.flow_side / max(height, width)
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(8, round(width * scale)), max(8, round(height * scale))),
                             interpolation=cv2.INTER_AREA)
        return rgb, grey(rgb)

    def _confidence(self, previous: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray],
                    size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow HxWx2 float32, share HxW float32 in [0, weight]) at `size` (height, width),
        worked out between two shrunk input frames (from `_shrink`) and enlarged."""
        import cv2  # OpenCV (the video extra) only where frames are blended: WEIGHT is read by the CLI

        from tessera.optical_flow import dis_flow, sample, trusted

        (previous, grey_prev), (current, grey_now) = previous, current
        height, width = size
        scale = current.shape[1] / width
        backward = dis_flow(grey_now, grey_prev, self.preset)
        forward = dis_flow(grey_prev, grey_now, self.preset)
        mismatch = cv2.blur(cv2.absdiff(current, sample(previous, backward)).max(axis=2).astype(np.float32), (3, 3))
        share = np.exp(-np.square(mismatch / self.tolerance)) * self.weight
        share[~trusted(backward, forward)] = 0.0
        # A network paints beyond an object's outline (its receptive field), so near an input change
        # the flow cannot explain (a reveal, an object's edge) the output changes where the input does
        # not. No share within REACH pixels of it, rising to the full share at 2 x REACH: a ramp from 0
        # let the painted halo of a moving object leak into its wake a little every frame, which added
        # up to a pale smear behind it with any-painting (docs/video.md).
        unexplained = (mismatch > UNEXPLAINED * self.tolerance).view(np.uint8)
        if unexplained.any():
            distance = cv2.distanceTransform(1 - unexplained, cv2.DIST_L2, 3) / (REACH * scale)
            share *= np.clip(distance - 1.0, 0.0, 1.0)
        share = share.astype(np.float32, copy=False)
        if backward.shape[:2] != (height, width):
            ratio_x, ratio_y = width / backward.shape[1], height / backward.shape[0]
            backward = cv2.resize(backward, (width, height), interpolation=cv2.INTER_LINEAR)
            backward[..., 0] *= ratio_x
            backward[..., 1] *= ratio_y
            share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)
        return backward, share

    def __call__(self, input_rgb: np.ndarray, output_rgb: np.ndarray) -> np.ndarray:
        if input_rgb.shape != output_rgb.shape:
            raise ValueError(f"input and output frames differ in size: {input_rgb.shape} and {output_rgb.shape}")
        import cv2

        from tessera.optical_flow import sample

        if self.weight == 0:
            return output_rgb
        current = output_rgb.astype(np.float32)
        shrunk = self._shrink(input_rgb)
        if self._previous is not None and self._output.shape == current.shape:
            backward, share = self._confidence(self._previous, shrunk, current.shape[:2])
            warped = sample(self._output, backward, cubic=True)
            current = cv2.blendLinear(warped, current, share, 1.0 - share)
        self._previous, self._output = shrunk, current
        return cv2.convertScaleAbs(current)  # rounded and saturated to uint8 (values are never negative)
