"""The warping error: zero for a steady scene, small for motion the flow follows, large for flicker."""

import numpy as np

from scripts.make_clips import frames
from tessera.flicker import frame_difference, warping_error
from tessera.shots import ShotContext, colour_histogram, histogram_difference


def test_warping_error_follows_motion_and_catches_flicker():
    pan = list(frames("pan", 160, 96, 6))
    assert warping_error(pan, pan) < 2.0  # the flow follows the pan: little is left
    assert frame_difference(pan) > 3 * warping_error(pan, pan)
    # Every other frame 8 levels brighter: consecutive frames differ by about 8 levels after alignment.
    flickering = [np.clip(f.astype(int) + 8 * (i % 2), 0, 255).astype(np.uint8) for i, f in enumerate(pan)]
    assert warping_error(pan, flickering) > warping_error(pan, pan) + 5
    still = [pan[0]] * 3
    assert warping_error(still, still) == 0.0 and frame_difference(still) == 0.0


def test_shots_split_at_a_cut_not_at_a_pan_or_a_moving_object():
    pan, moving = list(frames("pan", 96, 64, 8)), list(frames("moving", 96, 64, 8))
    steps = [histogram_difference(colour_histogram(a), colour_histogram(b)) for a, b in zip(pan, pan[1:], strict=False)]
    assert max(steps) < 0.1
    assert histogram_difference(colour_histogram(pan[-1]), colour_histogram(moving[0])) > 0.5
    shots = ShotContext()
    contexts = [shots.context_for(f) for f in pan + moving]
    assert shots.shots == 2
    assert all(c is pan[0] for c in contexts[:8]) and all(c is moving[0] for c in contexts[8:])
    per_frame = ShotContext("frame")
    assert all(per_frame.context_for(f) is f for f in moving)
