"""Temporal noise reduction: noise on a still scene is averaged away, motion and cuts pass through."""

import numpy as np
import pytest

from scripts.make_clips import frames
from tessera.flicker import frame_difference
from tessera.temporal_filter import TemporalDenoise


def test_noise_on_a_still_scene_fades_and_the_scene_stays():
    still = list(frames("still", 96, 64, 20))
    denoise = TemporalDenoise()
    filtered = [denoise(f) for f in still]
    assert frame_difference(still[10:]) > 1.2
    # The gain falls as 1/n to 1/16 while a pixel stays still (0.2 with a constant gain of 0.25).
    assert frame_difference(filtered[10:]) < 0.1 * frame_difference(still[10:])
    clean = np.mean([f.astype(float) for f in still], axis=0)
    assert np.abs(filtered[-1] - clean).mean() < 0.6 * np.abs(still[-1] - clean).mean()


def test_motion_and_cuts_pass_through_unchanged():
    moving = list(frames("moving", 96, 64, 6))
    denoise = TemporalDenoise()
    filtered = [denoise(f) for f in moving]
    assert np.array_equal(filtered[0], moving[0])
    # Where the ball moved (a change far above the threshold), the new frame is taken as it is.
    moved = np.abs(moving[3].astype(int) - moving[2]).max(axis=2) > 2 * TemporalDenoise().threshold
    assert moved.sum() > 100 and np.array_equal(filtered[3][moved], moving[3][moved])
    cut = np.full_like(moving[0], 255) - moving[5]
    jumped = np.abs(cut.astype(int) - filtered[5]).max(axis=2) > 2 * TemporalDenoise().threshold + 1
    assert jumped.mean() > 0.5 and np.array_equal(denoise(cut)[jumped], cut[jumped])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TemporalDenoise(threshold=0)
    with pytest.raises(ValueError):
        TemporalDenoise(floor=1.5)


def test_a_slow_fade_lags_by_at_most_about_the_threshold():
    still = list(frames("still", 96, 64, 40))
    denoise = TemporalDenoise()
    fading = [np.clip(f.astype(int) - 2 * i, 0, 255).astype(np.uint8) for i, f in enumerate(still)]
    filtered = [denoise(f) for f in fading]
    lag = filtered[-1].astype(float) - fading[-1]  # about 2 levels for fades of 1 and 2 levels a frame
    assert 0 < lag.mean() <= TemporalDenoise().threshold
