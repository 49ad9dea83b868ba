"""Clips through the gateway's job flow: 202, progress in frames, the restyled clip with its audio,
cancel, and clear refusals from the header; in memory and through Redis."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from bff import close_app
from scripts.make_clips import make_clip
from tessera.client import TesseraClient
from tessera.video import ClipOptions, stylize_clip
from tessera.video_io import open_clip
from tests.bff.live import make_app
from tests.bff.test_jobs_api import sse
from tests.support.redis_server import running_redis
from tests.video.conftest import VIDEO_STYLE


def post_clip(client, data: bytes, name: str = "clip.mp4", path: str = "/api/jobs", **fields):
    form = {"style": VIDEO_STYLE, "image": (io.BytesIO(data), name), **fields}
    return client.post(path, data=form)


def _pixels(data: bytes) -> np.ndarray:
    return np.stack([frame for kind, frame, _ in open_clip(data).items() if kind == "video"]).astype(np.float32)


def _audio(data: bytes) -> list[bytes]:
    return [bytes(p) for kind, p, _ in open_clip(data).items() if kind == "audio"]


@pytest.fixture
def gateway(video_server):
    app = make_app(servers=(video_server,), max_clip_seconds=5.0)
    yield app.test_client()
    close_app(app)


def test_a_clip_job_counts_frames_and_returns_the_clip_with_its_audio(gateway):
    data = make_clip("moving", "mp4", 96, 64, 6, 10)
    created = post_clip(gateway, data, "holiday.mp4")
    assert created.status_code == 202, created.json
    events = sse(gateway.get(created.json["events_url"]).get_data(as_text=True))
    assert events[-1][0] == "done"
    progress = [e for name, e in events if name == "progress" and e["done"]]
    assert progress and all(e["total"] == 6 for e in progress)
    result = gateway.get(created.json["result_url"])
    assert result.status_code == 200 and result.mimetype == "video/mp4"
    assert f'filename="holiday-{VIDEO_STYLE}.mp4"' in result.headers["Content-Disposition"]
    clip = open_clip(result.data)
    assert (clip.info.width, clip.info.height, clip.info.frames, clip.info.audio_codec) == (96, 64, 6, "aac")
    assert _audio(result.data) == _audio(data)


@pytest.mark.parametrize(("make", "fields", "status", "error", "words"), [
    (lambda: make_clip("still", "mp4", 96, 64, 12, 2), {}, 413, "clip_too_large", "lasts 6.0 s; the limit is 5 s"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10)[:300], {}, 400, "bad_clip", "header cannot be read"),
    (lambda: b"GIF89a...", {}, 415, "still_gif", "save it as PNG or JPEG"),  # no frames: no clip
    (lambda: make_clip("still", "gif", 95, 64, 4, 10), {"format": "mp4"}, 400, "unsupported_output",
     "The clip is 95×64: H.264 in MP4 needs even sides; choose WebM."),  # AAC into WebM: test_clip_audio.py
    (lambda: make_clip("still", "gif", 96, 64, 4, 10), {"format": "gif"}, 400, "invalid_format",
     "mp4 or webm"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"style": "nope"}, 404, "unknown_style", "nope"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"preset": "swirls"}, 400, "invalid_style",
     "is a fixed style: it takes no presets or style images"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"temporal_blend": "1"}, 400, "invalid_temporal_blend",
     "must be below 1 (0 turns the blending off)"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"temporal_blend": "steady"}, 400, "invalid_temporal_blend",
     "must be a number from 0 to 1, not 'steady'"),
    # Before, these were answered 202 and ignored: /maps/realism then said the job was not asked to explain.
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"explain": "true"}, 400, "photo_only_field",
     "'explain' applies to photos only: a clip is restyled at brush scale 1 and draws no critic maps; leave it "
     "out for a clip."),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10), {"scale": "0.5"}, 400, "photo_only_field",
     "'scale' applies to photos only"),
    (lambda: make_clip("still", "mp4", 96, 64, 4, 10)[:300], {"explain": "on", "scale": "0.5"}, 400,
     "photo_only_field", "'explain' and 'scale' apply to photos only"),  # before the clip is read
])
def test_clips_are_refused_from_the_header_with_a_reason(gateway, make, fields, status, error, words):
    answer = post_clip(gateway, make(), **fields)
    assert (answer.status_code, answer.json["error"]) == (status, error)
    assert words in answer.json["message"]


@pytest.mark.parametrize("blend", ["0", "0.5"])
def test_the_temporal_blend_field_reaches_the_clip(gateway, video_server, blend):
    data = make_clip("pan", "mp4", 96, 64, 5, 10)
    created = post_clip(gateway, data, temporal_blend=blend)
    assert created.status_code == 202, created.json
    assert sse(gateway.get(created.json["events_url"]).get_data(as_text=True))[-1][0] == "done"
    with TesseraClient(video_server) as client:
        same, other = (stylize_clip(client, data, VIDEO_STYLE, options=ClipOptions(temporal_blend=weight)).data
                       for weight in (float(blend), 0.5 - float(blend)))
    got = _pixels(gateway.get(created.json["result_url"]).data)
    # Frames, not bytes, with a margin: two runs of one clip through the same server were seen to
    # differ by up to 0.74 levels on average (frames 1-2 of 5; cause not found yet, see the closing
    # note of 2026-11-30), while the two blend weights differ by 6-9 levels on every blended frame.
    assert np.abs(got - _pixels(same)).mean() < 2.0
    assert np.abs(got - _pixels(other))[1:].mean() > 4.0


def test_a_clip_sent_for_a_synchronous_restyle_is_pointed_to_the_jobs(gateway):
    answer = post_clip(gateway, make_clip("still", "webm", 96, 64, 3, 10), "clip.webm", path="/api/stylize")
    assert (answer.status_code, answer.json["error"]) == (415, "clip_needs_job")
    assert "POST /api/jobs" in answer.json["message"]


def _cancel_midway(client, data: bytes) -> dict:
    created = post_clip(client, data)
    assert created.status_code == 202, created.json
    status_url = created.json["status_url"]
    deadline = time.monotonic() + 60
    while client.get(status_url).json["done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.delete(f"/api/jobs/{created.json['id']}").status_code == 204
    while (snap := client.get(status_url).json)["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return snap


@pytest.mark.parametrize("scale", ["auto", "1"])  # 1 is a clip's own brush scale: it was refused
def test_photo_fields_that_ask_for_nothing_pass_with_a_clip(gateway, scale):
    created = post_clip(gateway, make_clip("still", "mp4", 96, 64, 3, 10), explain="false", scale=scale)
    assert created.status_code == 202, created.json
    assert sse(gateway.get(created.json["events_url"]).get_data(as_text=True))[-1][0] == "done"


def test_cancelling_a_running_clip_job_stops_it_before_its_last_frame(gateway):
    snap = _cancel_midway(gateway, make_clip("pan", "mp4", 160, 96, 40, 10))
    assert (snap["state"], snap["status"], snap["error"]) == ("failed", 499, "cancelled")
    assert snap["message"] == "The request was cancelled before the clip was done."  # it said "image"
    assert snap["done"] < 40
    assert gateway.delete("/api/jobs/no-such-job").status_code == 404


def test_clip_jobs_run_and_cancel_through_redis(video_server, tmp_path):
    with running_redis(tmp_path) as redis_server:
        app = make_app(servers=(video_server,), job_store=redis_server.url, job_workers=1)
        try:
            client = app.test_client()
            data = make_clip("moving", "webm", 96, 64, 4, 10)
            created = post_clip(client, data, "clip.webm", temporal_blend="0.5")
            assert created.status_code == 202, created.json
            events = sse(client.get(created.json["events_url"]).get_data(as_text=True))
            assert events[-1][0] == "done", events[-1]
            result = client.get(created.json["result_url"])
            assert result.mimetype == "video/webm"
            assert sum(kind == "video" for kind, *_ in open_clip(result.data).items()) == 4
            assert _audio(result.data) == _audio(data)
            with TesseraClient(video_server) as library:  # the blend weight crossed the queue with the clip
                expected = stylize_clip(library, data, VIDEO_STYLE, "webm", ClipOptions(temporal_blend=0.5)).data
            # WebM's header differs run to run, its frames do not
            assert np.array_equal(_pixels(result.data), _pixels(expected))
            snap = _cancel_midway(client, make_clip("pan", "mp4", 160, 96, 40, 10))
            assert (snap["state"], snap["error"]) == ("failed", "cancelled") and snap["done"] < 40
            assert snap["message"] == "The request was cancelled before the clip was done."
        finally:
            close_app(app)
