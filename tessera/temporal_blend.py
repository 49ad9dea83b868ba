"""Flow-guided temporal blending of restyled frames: each output frame is mixed with the previous
*output* frame warped onto it by the optical flow of the *input* frames, where that flow can be
trusted. This is the short-term consistency of Ruder et al. (2016) and the blind post-processing of
Bonneel et al. (2015) and Lai et al. (2018), done on whole frames after their tiles came back (so it
cannot make seams), without any training.

Why: a restyling network amplifies small input changes (noise, sub-pixel motion) into texture that
changes every frame; shared statistics and the noise filter remove only part of it (docs/video.md).

Per pixel p of frame t, with B the flow from input t back to input t-1 (DIS, `PRESET`, on frames
shrunk to `FLOW_SIDE` px, tessera.optical_flow), P the previous blended output warped by B:

    share(p)      = W(p) * trusted(p) * exp(-(e(p) / TOLERANCE)^2)
    P'(p)         = P(p) near an unexplained change clamped toward the new output's local range (below)
    output'_t(p)  = output_t(p) + share(p) * (P'(p) - output_t(p))

`trusted` is the forward-backward consistency test (occlusions, disocclusions, flow leaving the
frame); e is the largest channel difference in levels between input t and input t-1 warped by B, so
where the flow is wrong (a moving object's edge, a reveal, a lighting change) the input does not
match and the previous output is not used.

Near an input change the flow cannot explain at all (mismatch beyond UNEXPLAINED x TOLERANCE: an
object's edge, a reveal) a network's output changes where its input does not, because it paints
beyond an object's outline: the previous output there may hold a halo painted around the object where
it was. Within REACH px of such a pixel the warped previous output is clamped, per channel, to the
range of the new output's NEIGHBOURHOOD x NEIGHBOURHOOD pixels (the history rejection of temporal
anti-aliasing), and from REACH to 2 x REACH the clamp fades out: a stale halo is outside what the
network paints there now and cannot leak into the wake (no ghost trail), while texture it repaints
within that range is still steadied.

W is WEIGHT (the `weight` given), except on still pixels (flow under STILL px, input mismatch under
QUIET levels), where it is lengthened up to LONGEST until their output steps by about STEP levels a
frame (`_lengthen`): networks differ tenfold in how much they repaint a still scene, and a still
pixel loses no sharpness to a longer memory. The blend is recursive (output' feeds the next frame),
so a pixel averages about 1 / (1 - W) frames; the previous output is warped bicubically and kept in
float to limit the softening of repeated resampling. A cut resets it.
"""

from __future__ import annotations

import numpy as np

WEIGHT = 0.9  # largest share of the warped previous output: about 10 frames of memory where nothing moves
TOLERANCE = 8.0  # levels of input mismatch at which the share falls to 1/e of WEIGHT
FLOW_SIDE = 480  # the flow is worked out on frames shrunk to this longer side (cost: a 720p frame is 2.7x that)
PRESET = "fast"
REACH = 24  # px around an unexplained input change where the previous output is clamped; as many again to fade it
UNEXPLAINED = 5.0  # x TOLERANCE: an input change the flow cannot explain (a reveal, an object's edge)
NEIGHBOURHOOD = 3  # px: near an unexplained change the previous output is clamped to the new one's range here
STEP = 0.5  # levels: the mean step a still pixel's output may take per frame, if LONGEST allows
LONGEST = 0.97  # the largest share on still pixels: about 33 frames (1.1 s at 30 fps) of memory
STILL = 0.5  # px: a pixel whose flow is shorter is still (a repeated warp of it does not soften it)
QUIET = 1.0  # levels: and whose input mismatch is below this (the noise filter leaves about 0.1-0.3)


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
        self._innovation: float | None = None  # levels: the network's flicker on still pixels (_lengthen)

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
                    size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(backward flow HxWx2 float32, share HxW float32 in [0, weight], still HxW bool, zone HxW
        float32 in [0, 1] or None) at `size` (height, width), worked out between two shrunk input
        frames (from `_shrink`) and enlarged. The zone is 0 within REACH px of an unexplained change,
        rising to 1 at 2 x REACH (None: no such change)."""
        import cv2  # OpenCV (the video extra) only where frames are blended: WEIGHT is read by the CLI

        from tessera.optical_flow import dis_flow, sample, trusted
        from tessera.temporal_filter import largest_difference

        (previous, grey_prev), (current, grey_now) = previous, current
        height, width = size
        scale = current.shape[1] / width
        backward = dis_flow(grey_now, grey_prev, self.preset)
        forward = dis_flow(grey_prev, grey_now, self.preset)
        largest = largest_difference(current, sample(previous, backward))
        mismatch = cv2.blur(largest.astype(np.float32), (3, 3))
        share = np.exp(-np.square(mismatch / self.tolerance)) * self.weight
        share[~trusted(backward, forward)] = 0.0
        # A network paints beyond an object's outline (its receptive field), so near an input change
        # the flow cannot explain (a reveal, an object's edge) the output changes where the input does
        # not: a share there let the painted halo of a moving object leak into its wake a little every
        # frame, a pale smear behind it with any-painting (docs/video.md). `_clamp` works in this zone.
        unexplained = (mismatch > UNEXPLAINED * self.tolerance).view(np.uint8)
        zone = None
        if unexplained.any():
            distance = cv2.distanceTransform(1 - unexplained, cv2.DIST_L2, 3) / (REACH * scale)
            zone = np.clip(distance - 1.0, 0.0, 1.0).astype(np.float32)
        share = share.astype(np.float32, copy=False)
        # Still: neither where the input is (the flow) nor its level (a fade, a lighting change) moved.
        still = ((np.square(backward).sum(axis=2) < (STILL * scale) ** 2) & (mismatch < QUIET)).view(np.uint8)
        if backward.shape[:2] != (height, width):
            ratio_x, ratio_y = width / backward.shape[1], height / backward.shape[0]
            backward = cv2.resize(backward, (width, height), interpolation=cv2.INTER_LINEAR)
            backward[..., 0] *= ratio_x
            backward[..., 1] *= ratio_y
            share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)
            still = cv2.resize(still, (width, height), interpolation=cv2.INTER_NEAREST)
            if zone is not None:
                zone = cv2.resize(zone, (width, height), interpolation=cv2.INTER_LINEAR)
        return backward, share, still.view(bool), zone

    @staticmethod
    def _clamp(warped: np.ndarray, current: np.ndarray, zone: np.ndarray) -> np.ndarray:
        """The warped previous output near unexplained changes (zone 0 within REACH px, rising to 1 at
        2 x REACH) clamped to the range of the new output's NEIGHBOURHOOD x NEIGHBOURHOOD pixels, per
        channel, as temporal anti-aliasing rejects stale history: a halo the network painted around an
        object where it was is outside the range of what it paints there now, so it cannot leak into
        the wake, while texture it repaints within that range is still steadied. `warped` is changed
        in place (a copy of a 720p float frame cost about 5 ms) and returned."""
        import cv2

        below = zone < 1
        rows, columns = np.flatnonzero(below.any(axis=1)), np.flatnonzero(below.any(axis=0))
        if rows.size == 0:
            return warped
        # Only the box around the zone (with the neighbourhood's margin, so the box's range is exact):
        # a moving object's zone is a small part of a frame, and the whole frame cost 20-40 ms at 720p.
        margin = NEIGHBOURHOOD // 2
        top, left = max(0, rows[0] - margin), max(0, columns[0] - margin)
        bottom, right = rows[-1] + 1 + margin, columns[-1] + 1 + margin
        near, history = current[top:bottom, left:right], warped[top:bottom, left:right]
        kernel = np.ones((NEIGHBOURHOOD, NEIGHBOURHOOD), np.uint8)
        clamped = cv2.min(cv2.max(history, cv2.erode(near, kernel)), cv2.dilate(near, kernel))
        warped[top:bottom, left:right] = clamped + zone[top:bottom, left:right, None] * (history - clamped)
        return warped

    def _lengthen(self, share: np.ndarray, still: np.ndarray, current: np.ndarray, warped: np.ndarray) -> None:
        """Raises the share of still pixels (in place) so that their output steps by about STEP levels a
        frame: with share w, a still pixel's output moves by (1 - w) times its innovation (the new output
        less the warped previous one), so w = 1 - STEP / innovation, between `weight` and LONGEST. The
        innovation is the network's own flicker, averaged over the still pixels the blend uses and
        smoothed over frames (noise-sensitive networks such as the conditioned teachers repaint a still
        scene by over 10 levels a frame; the compact styles by about 1 to 3). Still pixels only, because
        they lose no sharpness to a longer memory: their warp moves them by under STILL px."""
        import cv2

        used = (still & (share > 0)).view(np.uint8)
        count = np.count_nonzero(used)
        if count < 0.01 * used.size:  # too few to judge by; keep the last estimate
            innovation = self._innovation
        else:
            # The mean absolute difference over the used pixels' channels, summed by OpenCV under a
            # mask: a boolean-indexed copy of the 720p difference cost about 17 ms a frame.
            measured = cv2.norm(current, warped, cv2.NORM_L1, mask=used) / (3 * count)
            innovation = measured if self._innovation is None else 0.8 * self._innovation + 0.2 * measured
        self._innovation = innovation
        if innovation is None or innovation <= STEP:
            return
        longest = max(self.weight, LONGEST)
        wanted = min(longest, max(self.weight, 1.0 - STEP / innovation))
        if wanted > self.weight:
            np.multiply(share, np.float32(wanted / self.weight), out=share, where=still)  # no indexed copy

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
            backward, share, still, zone = self._confidence(self._previous, shrunk, current.shape[:2])
            warped = sample(self._output, backward, cubic=True)
            if zone is not None:
                warped = self._clamp(warped, current, zone)
            self._lengthen(share, still, current, warped)
            current = cv2.blendLinear(warped, current, share, 1.0 - share)
        self._previous, self._output = shrunk, current
        return cv2.convertScaleAbs(current)  # rounded and saturated to uint8 (values are never negative)
