"""A GIF or animated WebP of one frame is a still image, on every route (tessera/video_sniff.py decides):
a one-frame WebP is restyled as a photo, a one-frame GIF is refused at once with a sentence saying to
save it as PNG or JPEG (GIF is no photo format), and two frames or more make a clip."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tessera.video_sniff import STILL_GIF, is_still_gif, sniff_clip
from tests.bff.pictures import animation
from tests.support import TINY_STYLE

ONE_FRAME_GIF, TWO_FRAME_GIF = animation("GIF", 1), animation("GIF", 2)
ONE_FRAME_WEBP, TWO_FRAME_WEBP = animation("WEBP", 1), animation("WEBP", 2)


def test_frames_decide_between_clip_and_still():
    assert Image.open(io.BytesIO(ONE_FRAME_WEBP)).n_frames == 1 and ONE_FRAME_WEBP[12:16] == b"VP8X"
    assert (sniff_clip(ONE_FRAME_GIF), sniff_clip(TWO_FRAME_GIF)) == (None, "gif")
    assert (sniff_clip(ONE_FRAME_WEBP), sniff_clip(TWO_FRAME_WEBP)) == (None, "webp")
    assert is_still_gif(ONE_FRAME_GIF) and not is_still_gif(TWO_FRAME_GIF)
    assert is_still_gif(b"GIF89a...")  # no frame left to read: not a clip either


def _form(data: bytes, name: str) -> dict:
    return {"style": TINY_STYLE, "image": (io.BytesIO(data), name)}


@pytest.mark.parametrize("path", ["/api/stylize", "/api/photos", "/api/jobs"])
def test_a_one_frame_gif_is_refused_at_once_with_what_to_do(client, path):
    answer = client.post(path, data=_form(ONE_FRAME_GIF, "static.gif"))
    assert (answer.status_code, answer.json["error"], answer.json["message"]) == (415, "still_gif", STILL_GIF)
    assert "save it as PNG or JPEG" in STILL_GIF


def test_a_one_frame_gif_in_a_batch_is_refused_by_name(client):
    answer = client.post("/api/batches", data={"style": TINY_STYLE, "images": [
        (io.BytesIO(ONE_FRAME_WEBP), "still.webp"),
        (io.BytesIO(ONE_FRAME_GIF), "static.gif")]})
    assert (answer.status_code, answer.json["error"]) == (415, "still_gif")
    assert answer.json["message"] == f"static.gif: {STILL_GIF}"


def test_a_one_frame_webp_animation_is_restyled_as_a_photo_everywhere(client):
    restyled = client.post("/api/stylize", data=_form(ONE_FRAME_WEBP, "still.webp"))
    assert (restyled.status_code, restyled.mimetype) == (200, "image/webp")
    assert Image.open(io.BytesIO(restyled.data)).size == (96, 64)
    kept = client.post("/api/photos", data=_form(ONE_FRAME_WEBP, "still.webp"))
    assert (kept.status_code, kept.json["format"]) == (201, "webp")
    job = client.post("/api/jobs", data=_form(ONE_FRAME_WEBP, "still.webp"))
    assert job.status_code == 202, job.json
    client.get(job.json["events_url"]).get_data()  # the stream ends with the job
    result = client.get(job.json["result_url"])
    assert (result.status_code, result.mimetype) == (200, "image/webp")  # a photo's result, not a clip's mp4


@pytest.mark.parametrize("data", [TWO_FRAME_GIF, TWO_FRAME_WEBP], ids=["gif", "webp"])
@pytest.mark.parametrize("path", ["/api/stylize", "/api/photos"])
def test_two_frames_make_a_clip_that_the_photo_routes_point_to_the_jobs(client, path, data):
    answer = client.post(path, data=_form(data, "moving"))
    assert (answer.status_code, answer.json["error"]) == (415, "clip_needs_job")
