"""A thin strip the gateway accepts (up to 1000:1) is previewed at every brush scale: every copy the gateway
shrinks and sends to the inference server keeps the shape rule, since the server refuses anything past it.

A 3000x3 strip's working copy at a brush scale was its thumbnail at 1024 px, 1024x1 (3 x 1024/3000 rounds
to 1), and the server refused the gateway's own copy with 400 "the image is 1024×1 pixels: one side may be
at most 1,000 times the other", though the photo itself uploads and restyles fine.
"""

from __future__ import annotations

import io
import math
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from bff import close_app
from tessera.tiling import MAX_ASPECT_RATIO
from tests.bff.live import make_app, multipart, post_form, serving
from tests.support import TINY_STYLE

SHAPES = [(3000, 3), (3, 3000), (2100, 3), (2999, 3), (5000, 5), (1000, 1), (1, 1000)]
QUERIES = ["", "?scale=auto", "?scale=1", "?scale=0.5", "?scale=0.25", "?scale=0.125&strength=0.5"]


@pytest.fixture(scope="module", params=[512, 1100], ids=["preview-512", "preview-1100"])
def gateway(request, inference_server):
    """The default preview size (its brush-scale copies reach 1024 px), and one over 1000 px, whose plain
    thumbnail of a strip already rounds past the rule."""
    app = make_app(servers=(inference_server,), preview_size=request.param, max_photos_per_client=50)
    with serving(app) as base:
        yield base, request.param
    close_app(app)


def call(method: str, url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def _strip(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(width * 7 + height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _thumbnail_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """The shape rule written out: the long side at `longest` (or the photo's), the short one in
    proportion, but never under the long one over 1000."""
    factor = min(1.0, longest / max(width, height))
    w, h = max(1, round(width * factor)), max(1, round(height * factor))
    return (w, max(h, math.ceil(w / MAX_ASPECT_RATIO))) if w >= h else (max(w, math.ceil(h / MAX_ASPECT_RATIO)), h)


@pytest.mark.parametrize(("width", "height"), SHAPES, ids=[f"{w}x{h}" for w, h in SHAPES])
def test_a_strip_is_previewed_at_every_brush_scale(gateway, width, height):
    base, preview_size = gateway
    status, photo = post_form(f"{base}/api/photos", *multipart({}, {"image": ("strip.png", _strip(width, height))}))
    assert status == 201, photo
    try:
        expected = _thumbnail_size(width, height, preview_size)
        status, _, data = call("GET", base + photo["thumbnail_url"])
        assert status == 200 and Image.open(io.BytesIO(data)).size == expected
        for query in QUERIES:
            status, _, data = call("GET", f"{base}{photo['url']}/previews/{TINY_STYLE}{query}")
            assert status == 200, (query, data[:300])
            assert Image.open(io.BytesIO(data)).size == expected, query
    finally:
        call("DELETE", base + photo["url"])


def test_a_strip_past_the_rule_is_refused_at_upload(gateway):
    base, _ = gateway
    status, answer = post_form(f"{base}/api/photos", *multipart({}, {"image": ("strip.png", _strip(1001, 1))}))
    assert (status, answer["error"]) == (400, "bad_shape"), answer
    assert "1,000 times" in answer["message"]

