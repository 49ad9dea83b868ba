"""A clip's progress counts the frames painted, and its last report's total is the frames the clip held,
also where the header's estimate (WebM states no frame count: duration x rate, rounded up) is off.

Before, an 18-frame WebM at 12 fps reported `done 1..18 of 19`, and its job ended `done 19 of 19`."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from bff import close_app
from scripts.make_clips import make_clip
from tessera.client import TesseraClient
from tessera.video import stylize_clip
from tessera.video_io import open_clip
from tests.bff.live import make_app
from tests.bff.test_jobs_api import sse
from tests.video.conftest import VIDEO_STYLE
from tests.video.test_clip_jobs import post_clip


def variable_rate_webm(times_ms: list[int], rate: int) -> bytes:
    """A WebM whose frames come at `times_ms`, its stream declaring `rate` frames a second."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        video = out.add_stream("libvpx-vp9", rate=rate, options={"deadline": "realtime", "cpu-used": "8"})
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        video.codec_context.time_base = video.time_base = Fraction(1, 1000)
        for i, ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return buffer.getvalue()


CLIPS = {
    "duration-rounded-up": (lambda: make_clip("pan", "webm", 48, 32, 18, 12), 19, 18),  # 1.508 s x 12 fps
    "variable-rate-overstated": (lambda: variable_rate_webm([0, 33, 66, 100, 500, 533, 566, 600], 30), 19, 8),
    "variable-rate-understated": (lambda: variable_rate_webm([10 * i for i in range(10)], 5), 2, 10),
}


@pytest.mark.parametrize("name", list(CLIPS))
def test_progress_counts_real_frames_and_ends_at_their_number(video_server, name):
    make, estimate, frames = CLIPS[name]
    data = make()
    assert open_clip(data).info.frames == estimate  # the header's estimate this test is about
    reports: list[tuple[int, int]] = []
    with TesseraClient(video_server) as client:
        result = stylize_clip(client, data, VIDEO_STYLE, progress=lambda done, total: reports.append((done, total)))
    assert result.frames == frames
    assert [done for done, _ in reports[:frames]] == list(range(1, frames + 1))
    assert all(done <= total for done, total in reports)
    assert reports[-1] == (frames, frames)
    assert max(done for done, _ in reports) == frames


def test_a_clip_job_ends_at_the_frames_it_held_not_the_headers_estimate(video_server):
    app = make_app(servers=(video_server,), max_clip_seconds=5.0)
    try:
        gateway = app.test_client()
        created = post_clip(gateway, make_clip("pan", "webm", 48, 32, 18, 12), "pan.webm")
        assert created.status_code == 202, created.json
        events = sse(gateway.get(created.json["events_url"]).get_data(as_text=True))
        assert events[-1][0] == "done"
        assert all(event["done"] <= 18 for _, event in events)
        assert (events[-1][1]["done"], events[-1][1]["total"]) == (18, 18)
        snap = gateway.get(created.json["status_url"]).json
        assert (snap["done"], snap["total"]) == (18, 18)
    finally:
        close_app(app)
