"""Clips through a real server: every frame restyled, statistics shared per shot, one version per clip."""

import shutil
import time

import numpy as np
import pytest

from scripts.local_stack import running_server
from scripts.make_clips import encode_frames, frames, make_clip
from tessera.client import TesseraClient
from tessera.video import ClipOptions, stylize_clip
from tessera.video_io import ClipTooLargeError, open_clip
from tests.video.conftest import ROOT, VIDEO_STYLE, copy_style


def _run(client, data, **options):
    pairs, seen = [], []
    result = stylize_clip(client, data, VIDEO_STYLE, options=ClipOptions(**options),
                          progress=lambda done, total: seen.append((done, total)),
                          on_frame=lambda i, rgb, out: pairs.append((i, rgb, out)))
    return result, pairs, seen


def test_a_clip_comes_back_restyled_at_its_size_with_its_audio_and_frame_progress(video_server):
    data = make_clip("moving", "mp4", 96, 64, 6, 10)
    with TesseraClient(video_server) as client:
        result, pairs, seen = _run(client, data, frames_in_flight=3)
    assert (result.format, result.frames, result.shots, result.version) == ("mp4", 6, 1, 1)
    assert seen == [(i, 6) for i in range(1, 7)]
    assert [i for i, *_ in pairs] == list(range(6))
    back, source = open_clip(result.data), open_clip(data)
    assert (back.info.width, back.info.height, back.info.fps, back.info.frames) == (96, 64, 10, 6)
    items = list(back.items())
    assert [bytes(p) for k, p, _ in items if k == "audio"] == [bytes(p) for k, p, _ in source.items() if k == "audio"]
    first_out = next(rgb for k, rgb, _ in items if k == "video")
    # Restyled, not copied: the written frame is the server's (up to H.264's losses on fine swirls at
    # 96x64), far from the input.
    to_input = np.abs(first_out.astype(int) - pairs[0][1]).mean()
    assert to_input > 20 and np.abs(first_out.astype(int) - pairs[0][2]).mean() < 0.5 * to_input


def test_frames_of_one_shot_share_the_first_frames_statistics_and_a_cut_starts_anew(video_server):
    scene_a = list(frames("pan", 96, 64, 3))
    scene_b = list(frames("moving", 96, 64, 3))
    data = encode_frames(scene_a + scene_b, "webm", audio=False)
    with TesseraClient(video_server) as client:
        shared, pairs, _ = _run(client, data, denoise=False, temporal_blend=0)
        per_frame, own, _ = _run(client, data, statistics="frame", denoise=False, temporal_blend=0)
        decoded = [rgb for _, rgb, _ in pairs]
        assert shared.shots == 2 and shared.format == "webm"
        for index in (1, 2, 4, 5):
            key = decoded[0] if index < 3 else decoded[3]
            assert np.array_equal(pairs[index][2], client.stylize(decoded[index], VIDEO_STYLE, context=key).image)
            assert np.array_equal(own[index][2], client.stylize(decoded[index], VIDEO_STYLE).image)
        # The two modes differ wherever a frame is not its shot's first one.
        assert not np.array_equal(pairs[2][2], own[2][2])
        assert np.array_equal(pairs[3][2], own[3][2])


def test_limits_refuse_a_clip_before_any_frame_reaches_the_server(video_server):
    from tessera.video_io import ClipLimits

    data = make_clip("still", "mp4", 96, 64, 8, 10)
    with TesseraClient(video_server) as client, pytest.raises(ClipTooLargeError, match="lasts 0.8 s"):
        stylize_clip(client, data, VIDEO_STYLE, limits=ClipLimits(max_seconds=0.5),
                     progress=lambda *_: pytest.fail("no frame should be restyled"))


def test_frames_of_one_clip_stay_on_one_version_when_a_new_one_serves_mid_clip(tmp_path):
    registry = copy_style(tmp_path / "registry")
    data = make_clip("pan", "mp4", 96, 64, 8, 10)
    with running_server(registry, warmup_runs=0, poll_interval=0.1) as address, TesseraClient(address) as client:
        swapped = []

        def swap_after_two(done: int, total: int) -> None:
            if done == 2 and not swapped:
                staging = registry / VIDEO_STYLE / ".incoming-2"
                shutil.copytree(ROOT / "model_registry" / VIDEO_STYLE / "2", staging)
                staging.rename(registry / VIDEO_STYLE / "2")
                deadline = time.monotonic() + 30
                while client.list_styles(include_previews=False)[0].serving_version != 2:
                    assert time.monotonic() < deadline, "the new version never served"
                    time.sleep(0.1)
                swapped.append(done)

        pairs = []
        options = ClipOptions(frames_in_flight=2, denoise=False, temporal_blend=0)
        result = stylize_clip(client, data, VIDEO_STYLE, options=options,
                              progress=swap_after_two, on_frame=lambda i, rgb, out: pairs.append((rgb, out)))
        assert swapped and result.version == 1 and result.frames == 8
        last_in, last_out = pairs[-1]
        key = pairs[0][0]
        assert np.array_equal(last_out, client.stylize(last_in, VIDEO_STYLE, version=1, context=key).image)
        assert not np.array_equal(last_out, client.stylize(last_in, VIDEO_STYLE, context=key).image)
