"""Upload once, then previews, restyles and jobs by photo id: waitress in front of a real inference server."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from bff import close_app
from scripts.local_stack import server_process
from tests.bff.live import make_app, multipart, post_form, serving
from tests.bff.pictures import encoded, gradient, png_declaring, with_exif_orientation
from tests.support import TINY_STYLE
from tests.support.metrics import counter_total

PHOTO = encoded(gradient(1200, 800), "JPEG", quality=92)


@pytest.fixture(scope="module")
def gateway(inference_server):
    app = make_app(servers=(inference_server,), max_photos_per_client=4, preview_size=128)
    with serving(app) as base:
        yield base
    close_app(app)


def call(method: str, url: str, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def upload(base: str, data: bytes = PHOTO, name: str = "holiday.jpg") -> tuple[int, dict]:
    return post_form(f"{base}/api/photos", *multipart({}, {"image": (name, data)}))


@pytest.fixture
def photo(gateway):
    status, body = upload(gateway)
    assert status == 201, body
    yield body
    call("DELETE", gateway + body["url"])


def test_upload_answers_with_an_unguessable_id_size_and_expiry(gateway, photo):
    assert len(photo["id"]) >= 22 and (photo["width"], photo["height"]) == (1200, 800)
    assert photo["expires_in_s"] > 3000 and photo["expires_at"].endswith("Z")
    status, _, body = call("GET", gateway + photo["url"])
    assert status == 200 and json.loads(body)["id"] == photo["id"]
    status, _, body = call("GET", gateway + photo["image_url"])
    assert status == 200 and body == PHOTO


def test_orientation_is_applied_to_the_stored_photos_size(gateway):
    status, body = upload(gateway, with_exif_orientation(gradient(120, 60), 6))
    assert status == 201 and (body["width"], body["height"]) == (60, 120)
    call("DELETE", gateway + body["url"])


@pytest.mark.parametrize(("data", "status", "error"), [
    (b"just text", 415, "unsupported_format"),
    (png_declaring(20000, 20000), 413, "too_many_pixels"),
    (b"", 400, "missing_field"),
])
def test_bad_uploads_are_refused_from_the_header(gateway, data, status, error):
    got, body = upload(gateway, data)
    assert (got, body["error"]) == (status, error) and body["message"].endswith(".")


@pytest.mark.parametrize("cut", [
    encoded(gradient(1200, 800), "JPEG", quality=92)[:3000],  # a JPEG cut short: its header is whole
    encoded(gradient(1200, 800), "PNG")[:2400],
    encoded(gradient(1200, 800), "WEBP")[:2000],
    png_declaring(4000, 3000),  # a whole header and no pixel data
], ids=["jpeg", "png", "webp", "png-header-only"])
def test_an_upload_damaged_past_its_header_is_422_and_not_kept(gateway, cut):
    """Its previews would all fail: the upload decodes the thumbnail they are made from, and refuses
    the file at once (a new user's cut-short JPEG was kept and shown as "8 previews ready")."""
    for _ in range(5):  # more than the client's 4 photos: a refused upload holds no room
        got, body = upload(gateway, cut)
        assert (got, body["error"]) == (422, "undecodable_image"), body
        assert "damaged" in body["message"] and body["message"].endswith(".")
    status, body = upload(gateway)
    assert status == 201
    call("DELETE", gateway + body["url"])


def test_unknown_or_deleted_photo_is_404_with_a_sentence(gateway):
    status, body = upload(gateway)
    assert call("DELETE", gateway + body["url"])[0] == 204
    for path in (body["url"], body["previews_url"], body["thumbnail_url"], f"{body['url']}/previews/{TINY_STYLE}"):
        got, _, answer = call("GET", gateway + path)
        assert got == 404 and json.loads(answer)["error"] == "unknown_photo", path
    got, answer = post_form(f"{gateway}/api/stylize", *multipart({"style": TINY_STYLE, "photo_id": body["id"]}, {}))
    assert got == 404 and "upload it again" in answer["message"]


def test_a_client_keeps_a_bounded_number_of_photos(gateway):
    limits = json.loads(call("GET", f"{gateway}/api/limits")[2])["photos"]
    assert (limits["max_per_client"], limits["preview_size"], limits["ttl_s"]) == (4, 128, 3600)
    kept = []
    try:
        for _ in range(4):
            status, body = upload(gateway, encoded(gradient(32, 32), "PNG"))
            assert status == 201
            kept.append(body)
        status, body = upload(gateway, encoded(gradient(32, 32), "PNG"))
        assert (status, body["error"]) == (429, "too_many_photos") and "delete one" in body["message"]
    finally:
        for body in kept:
            call("DELETE", gateway + body["url"])


def test_previews_list_every_style_and_each_preview_is_the_thumbnail_restyled(gateway, photo):
    status, _, body = call("GET", gateway + photo["previews_url"])
    looks = json.loads(body)["previews"]
    assert status == 200 and [look["style"] for look in looks] == [TINY_STYLE]
    assert looks[0]["featured"] and looks[0]["strength_mode"] == "pixel_mix"
    status, headers, data = call("GET", gateway + looks[0]["url"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert headers["Cache-Control"].startswith("private, max-age=")
    shown = Image.open(io.BytesIO(data))
    assert shown.size == (128, 85)
    status, _, thumb = call("GET", gateway + photo["thumbnail_url"])
    thumb_pixels = np.asarray(Image.open(io.BytesIO(thumb)), dtype=np.float32)
    # The tiny style is a sepia tone: the preview differs from the thumbnail, which has the same size.
    assert thumb_pixels.shape == (85, 128, 3)
    assert np.abs(np.asarray(shown, dtype=np.float32) - thumb_pixels).mean() > 5


def test_a_fixed_styles_preview_paints_every_row_of_a_3_2_thumbnail(gateway, photo, inference_server):
    """Only a conditioned style leaves out the rows past whole size multiples (its one pass needs them
    gone); a fixed style's single tile is padded, so its preview is the whole thumbnail restyled."""
    from bff.images import decode_thumbnail
    from bff.previews import encode_jpeg
    from tessera.client import TesseraClient

    _, _, body = call("GET", gateway + photo["previews_url"])
    _, _, data = call("GET", gateway + json.loads(body)["previews"][0]["url"])
    thumb = decode_thumbnail(PHOTO, 128, 10**8)
    assert thumb.shape[0] % 4 == 1  # 85 rows: one past whole multiples of 4
    with TesseraClient(inference_server, timeout=60) as client:
        whole = client.stylize(thumb, TINY_STYLE, tile_size=128).image
        cut = client.stylize(thumb[:84], TINY_STYLE, tile_size=128).image
    served = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    as_served = lambda pixels: np.asarray(Image.open(io.BytesIO(encode_jpeg(pixels))).convert("RGB"))  # noqa: E731
    assert np.array_equal(served, as_served(whole))
    assert not np.array_equal(served, as_served(np.concatenate([cut, cut[-1:]])))


def test_previews_at_strength_zero_are_the_thumbnail(gateway, photo):
    url = f"{gateway}{photo['url']}/previews/{TINY_STYLE}"
    zero = np.asarray(Image.open(io.BytesIO(call("GET", url + "?strength=0")[2])), dtype=np.float32)
    thumb = np.asarray(Image.open(io.BytesIO(call("GET", gateway + photo["thumbnail_url"])[2])), dtype=np.float32)
    assert np.abs(zero - thumb).mean() < 2  # two JPEG encodings of the same pixels


@pytest.mark.parametrize("size", [(10, 10), (3, 15), (1, 1)])
def test_a_photo_smaller_than_the_smallest_tile_is_previewed(gateway, size):
    """Its thumbnail is the photo itself: asked for as one tile of its own edge, under the 16 px the
    client takes (tessera.tiling.MIN_TILE_SIZE), the preview was a 500."""
    status, body = upload(gateway, encoded(gradient(*size), "PNG"), name="tiny.png")
    assert status == 201, body
    for query in ("", "?scale=0.5"):
        status, headers, data = call("GET", f"{gateway}{body['url']}/previews/{TINY_STYLE}{query}")
        assert status == 200, data[:300]
        assert Image.open(io.BytesIO(data)).size == size


@pytest.mark.parametrize(("query", "status", "error"), [
    ("?strength=2", 400, "invalid_strength"),
    ("?preset=swirls", 400, "invalid_style"),
    ("?keep_colors=maybe", 400, "invalid_keep_colors"),  # was taken as false, where forms refuse it
])
def test_bad_preview_options_are_refused(gateway, photo, query, status, error):
    got, _, body = call("GET", f"{gateway}{photo['url']}/previews/{TINY_STYLE}{query}")
    assert (got, json.loads(body)["error"]) == (status, error)
    got, _, body = call("GET", f"{gateway}{photo['url']}/previews/no-such-style")
    assert (got, json.loads(body)["error"]) == (404, "unknown_style")


def test_concurrent_previews_decode_the_photo_once(gateway, photo):
    url = f"{gateway}{photo['url']}/previews/{TINY_STYLE}"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda s: call("GET", f"{url}?strength={s}"), ("0.25", "0.5", "0.75", "1")))
    assert all(status == 200 for status, _, _ in answers)
    assert len({data for _, _, data in answers}) == 4


def test_a_preview_is_one_tile_on_the_server(tiny_registry):
    """A 512 px thumbnail goes as one tile: the client's planner alone would cut it in two, whose
    halos the server computes twice (a grid of previews is many calls: only the total work counts)."""
    with server_process(tiny_registry, metrics_port=0) as (_, address, log):
        app = make_app(servers=(address,), preview_size=512)
        try:
            with serving(app) as base:
                status, photo = upload(base)
                assert status == 201
                for query in ("", "?scale=0.5", "?strength=0.5&keep_colors=true"):
                    before = counter_total(log, "tessera_tiles_total")
                    status, _, data = call("GET", f"{base}{photo['url']}/previews/{TINY_STYLE}{query}")
                    assert status == 200 and Image.open(io.BytesIO(data)).size == (512, 341)
                    assert counter_total(log, "tessera_tiles_total") - before == 1, query
        finally:
            close_app(app)


def test_stylize_and_jobs_take_a_photo_id_instead_of_the_file(gateway, photo):
    fields = {"style": TINY_STYLE, "photo_id": photo["id"], "format": "png"}
    request = urllib.request.Request(f"{gateway}/api/stylize", *_form(fields))
    with urllib.request.urlopen(request, timeout=30) as resp:
        by_id = resp.read()
        assert "holiday-" + TINY_STYLE in resp.headers["Content-Disposition"]
    files = {"image": ("holiday.jpg", PHOTO)}
    body, content_type = multipart({"style": TINY_STYLE, "format": "png"}, files)
    request = urllib.request.Request(f"{gateway}/api/stylize", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.read() == by_id
    status, job = post_form(f"{gateway}/api/jobs", *multipart(fields, {}))
    assert status == 202, job
    both = multipart({"style": TINY_STYLE, "photo_id": photo["id"]}, files)
    status, answer = post_form(f"{gateway}/api/jobs", *both)
    assert (status, answer["error"]) == (400, "invalid_photo")


def _form(fields: dict) -> tuple[bytes, dict]:
    body, content_type = multipart(fields, {})
    return body, {"Content-Type": content_type}
