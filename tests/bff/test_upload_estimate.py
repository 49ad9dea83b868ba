"""The budget for kept results counts a job, before its upload is decoded, at its photo's bytes (bff.upload_size),
not at the whole request: a painting sent with the photo (style_image) is no part of any result. Over real
HTTP, against a real server of a style that takes paintings."""

from __future__ import annotations

import numpy as np
import pytest

from bff import close_app
from bff.jobs import Outcome, job_store_of
from scripts.local_stack import running_server
from tests.bff.live import make_app, multipart, post_body, serving
from tests.bff.pictures import encoded, gradient
from tests.support.conditioned import PAINTING_STYLE, write_painting_version

PHOTO = encoded(gradient(), "PNG")
# Noise compresses badly: a painting hundreds of times the photo's size.
PAINTING = encoded(np.random.default_rng(7).integers(0, 256, (160, 160, 3), dtype=np.uint8), "PNG")
# Each route with its photo field and the answer that says it was taken.
ROUTES = [("/api/stylize", "image", 200), ("/api/jobs", "image", 202), ("/api/batches", "images", 202)]


@pytest.fixture(scope="module")
def painting_server(tmp_path_factory):
    registry = tmp_path_factory.mktemp("painting-registry")
    write_painting_version(registry)
    with running_server(registry) as address:
        yield address


def post(url: str, files: dict[str, tuple[str, bytes]]) -> tuple[int, bytes]:
    return post_body(url, *multipart({"style": PAINTING_STYLE}, files), timeout=60)


def gateway_keeping(painting_server: str, kept_bytes: int):
    """A gateway whose budget for kept results is 4 photos' bytes, `kept_bytes` of it held by a finished job."""
    app = make_app(servers=(painting_server,), max_result_bytes=4 * len(PHOTO), job_ttl_s=600)
    kept = job_store_of(app).submit(lambda progress: Outcome(b"x" * kept_bytes, "image/png", "x.png", 1))
    assert kept.wait_finished(timeout=5)["state"] == "done"
    return app


@pytest.mark.parametrize("route, field, taken", ROUTES)
def test_a_small_photo_sent_with_a_large_painting_is_counted_at_the_photos_size(painting_server, route, field,
                                                                                taken):
    """The check before the decode counted the whole Content-Length, painting included, and refused the
    photo 429 results_full though its result (and a batch's photo) fit beside the one kept."""
    assert len(PAINTING) > 100 * len(PHOTO)
    app = gateway_keeping(painting_server, len(PHOTO) + 1)  # room left: 3 photos, minus a byte
    try:
        with serving(app) as base:
            status, body = post(base + route, {field: ("photo.png", PHOTO), "style_image": ("art.png", PAINTING)})
        assert status == taken, body[:300]
    finally:
        close_app(app)


@pytest.mark.parametrize("route, field, taken", ROUTES)
def test_a_photo_whose_result_does_not_fit_is_still_refused_before_its_decode(painting_server, route, field, taken):
    app = gateway_keeping(painting_server, 4 * len(PHOTO) - len(PHOTO) // 2)  # room left: half a photo
    try:
        with serving(app) as base:
            status, body = post(base + route, {field: ("photo.png", PHOTO)})
        assert status == 429 and b"results_full" in body, body[:300]
    finally:
        close_app(app)
