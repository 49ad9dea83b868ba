"""Flow-guided blending of restyled frames: flicker goes, moving things leave no trail, and clips
through a real server come out steadier than with the blending off."""

import cv2
import numpy as np
import pytest

from scripts.make_clips import frames, make_clip
from tessera.client import TesseraClient
from tessera.flicker import frame_difference, warping_error
from tessera.temporal_blend import TemporalBlend
from tessera.video import ClipOptions, stylize_clip
from tests.video.conftest import VIDEO_STYLE


def _flickering_network(inputs, seed=1):
    """A restyler stand-in: it paints beyond an object's outline (a wide blur, like a network's receptive
    field) and adds texture that changes every frame. Returns (what it gives, its flicker-free look)."""
    rng = np.random.default_rng(seed)
    looks = [cv2.GaussianBlur(f.astype(np.float32), (0, 0), 5) for f in inputs]
    return [np.clip(look + rng.normal(0, 6, look.shape), 0, 255).astype(np.uint8) for look in looks], looks


def test_blending_removes_flicker_and_a_moving_object_leaves_no_trail():
    inputs = list(frames("moving", 320, 180, 16))
    given, looks = _flickering_network(inputs)
    blend = TemporalBlend()
    blended = [blend(i, o) for i, o in zip(inputs, given, strict=True)]
    background = np.median(inputs, axis=0)
    ball = [np.abs(f.astype(int) - background).max(axis=2) > 30 for f in inputs]
    near = [cv2.dilate(b.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0 for b in ball]
    last = len(inputs) - 1
    passed = np.any(ball[:last - 3], axis=0) & ~near[last]  # the ball was here, and is now far away
    untouched = ~np.any(near, axis=0)
    assert passed.sum() > 2000 and untouched.sum() > 1000

    def error(images, where):
        return np.abs(images[last].astype(np.float32) - looks[last]).mean(axis=2)[where].mean()

    assert error(blended, untouched) < 0.5 * error(given, untouched)  # flicker averaged away
    assert error(blended, passed) < 2 * error(blended, untouched)  # no ghost of the ball behind it
    # A plain running average (no flow, no occlusion test) leaves the trail this check is for.
    average = [given[0].astype(np.float32)]
    for image in given[1:]:
        average.append(0.9 * average[-1] + 0.1 * image)
    assert error(average, passed) > 3 * error(average, untouched)


def test_blending_follows_motion_and_resets_at_a_cut():
    pan = list(frames("pan", 160, 96, 6))
    blend = TemporalBlend()
    out = [blend(f, f) for f in pan]  # a network that returns its input: nothing to steady, nothing to drag
    assert all(np.abs(o.astype(int) - f).mean() < 2.0 for o, f in zip(out, pan, strict=True))
    blend.reset()
    flipped = 255 - pan[-1]
    assert np.array_equal(blend(pan[-1], flipped), flipped)  # a new shot starts from its own frame
    assert np.array_equal(TemporalBlend(0.0)(pan[1], pan[0]), pan[0])


@pytest.mark.parametrize("weight", [-0.1, 1.0, float("nan")])
def test_bad_weights_are_refused(weight):
    with pytest.raises(ValueError, match="weight must be in"):
        TemporalBlend(weight)
    with pytest.raises(ValueError, match="weight must be in"):
        stylize_clip(None, b"", VIDEO_STYLE, options=ClipOptions(temporal_blend=weight))


def _restyled(client, data, **options):
    inputs, outputs = [], []
    stylize_clip(client, data, VIDEO_STYLE, options=ClipOptions(**options),
                 on_frame=lambda _, rgb, out: (inputs.append(rgb), outputs.append(out)))
    return inputs, outputs


def test_a_pan_and_a_still_clip_come_out_steadier_with_the_blending(video_server):
    with TesseraClient(video_server) as client:
        # Judged by Farneback's flow, not the DIS flow the blending steers by.
        pan = make_clip("pan", "mp4", 160, 96, 10, 30)
        inputs, off = _restyled(client, pan, temporal_blend=0)
        _, on = _restyled(client, pan)
        assert warping_error(inputs, on, "farneback") < 0.8 * warping_error(inputs, off, "farneback")
        still = make_clip("still", "mp4", 160, 96, 10, 30)
        _, off = _restyled(client, still, temporal_blend=0)
        _, on = _restyled(client, still)
        assert frame_difference(on) < min(1.0, 0.6 * frame_difference(off))
