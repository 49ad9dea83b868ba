"""The upload form's own limits: too many fields, a huge field name or text field, and the upload's file
name coming back in Content-Disposition. Each is refused (or bounded) with a sentence naming the limit,
not "larger than the 25 MB limit" for a body far below it."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from urllib.parse import unquote

import numpy as np
import pytest

from bff import close_app
from bff.forms import MAX_STEM_CHARS, download_name
from bff.restyle import content_disposition
from tests.bff.live import make_app, multipart, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

PNG = encoded(gradient(), "PNG")


def form_with(extra: dict[str, str], filename: str = "photo.png") -> dict:
    return {"style": TINY_STYLE, "image": (io.BytesIO(PNG), filename), **extra}


def post_raw(client, fields: dict[str, str]):
    """Posts a multipart body built by hand (the test client would spool a large one to a temporary file
    that it never closes)."""
    body, content_type = multipart({"style": TINY_STYLE, **fields}, {"image": ("p.png", PNG)})
    return client.post("/api/stylize", data=body, content_type=content_type)


@pytest.mark.parametrize("extra, status, error, words", [
    ({f"f{i}": "x" for i in range(10_000)}, 400, "too_many_fields", "more than 16 fields"),
    ({f"f{i}": "x" for i in range(20)}, 400, "too_many_fields", "more than 16 fields"),
    ({"n" * 1_000_000: "x"}, 400, "field_name_too_long", "1,000,000 characters"),
    ({"n" * 1000: "x"}, 400, "field_name_too_long", "1,000 characters"),
    ({"strength": "0." + "5" * 1_000_000}, 413, "field_too_large", "'strength'"),
    ({"notes": "y" * 20_000}, 413, "field_too_large", "at most 16,000"),
], ids=["10000-fields", "20-fields", "1MB-name", "1kB-name", "1MB-text", "20kB-text"])
def test_a_form_breaking_a_limit_says_which(client, extra, status, error, words):
    resp = post_raw(client, extra)
    assert resp.status_code == status, resp.json
    assert resp.json["error"] == error and words in resp.json["message"]
    assert "MB limit" not in resp.json["message"]


def test_form_limits_are_explained_over_real_http(app):
    body, content_type = multipart({"style": TINY_STYLE, **{f"f{i}": "x" for i in range(10_000)}},
                                   {"image": ("p.png", PNG)})
    assert len(body) < 1_000_000
    with serving(app) as url:
        request = urllib.request.Request(url + "/api/stylize", data=body, headers={"Content-Type": content_type})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400 and json.load(caught.value)["error"] == "too_many_fields"


def test_a_body_over_the_byte_limit_is_still_called_too_large(inference_server):
    app = make_app(servers=(inference_server,), max_upload_bytes=100_000)
    try:
        resp = app.test_client().post("/api/stylize", data=form_with({"notes": "z" * 300_000}))
        assert resp.status_code == 413 and "0.1 MB limit" in resp.json["message"]
    finally:
        close_app(app)


def disposition_name(header: str) -> str:
    """The file name a browser would use: filename* (RFC 5987) when present, else filename."""
    params = dict(part.strip().split("=", 1) for part in header.split(";")[1:])
    if "filename*" in params:
        charset, _, encoded_name = params["filename*"].split("'", 2)
        assert charset == "UTF-8"
        return unquote(encoded_name)
    return params["filename"].strip('"')


@pytest.mark.parametrize("uploaded, expected", [
    ("holiday.png", "holiday-tiny-sepia.png"),
    ("Ferien am Meer – Ümlaut.png", "Ferien am Meer – Ümlaut-tiny-sepia.png"),
    ("夏の海.png", "夏の海-tiny-sepia.png"),
    ("a;b%c<d>|e?.png", "abcde-tiny-sepia.png"),
    ("../../etc/passwd.png", "passwd-tiny-sepia.png"),
    ("....png", "image-tiny-sepia.png"),
], ids=["ascii", "accents", "cjk", "punctuation", "path", "dots"])
def test_the_download_name_is_sanitised_and_encoded(client, uploaded, expected):
    resp = client.post("/api/stylize", data=form_with({}, filename=uploaded))
    assert resp.status_code == 200
    header = resp.headers["Content-Disposition"]
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert disposition_name(header) == expected


@pytest.mark.parametrize("filename, ascii_name", [
    ("写真-umber-oil.webp", "image-umber-oil.webp"), ("фото-strength-40.jpg", "image-strength-40.jpg"),
    ("写真.jpg", "image.jpg"), ("a写真-mosaic.jpg", "a-mosaic.jpg"), ("holiday-mosaic.jpg", "holiday-mosaic.jpg"),
])
def test_the_plain_ascii_name_of_a_name_in_another_script_keeps_its_pattern(filename, ascii_name):
    """For clients that read no filename*: a stem in another script only was dropped whole, leaving
    "-umber-oil.webp" (a hidden-looking name) or "jpg"."""
    header = content_disposition("attachment", filename)
    assert f'filename="{ascii_name}"' in header and disposition_name(header) == filename


def test_a_100kB_upload_name_gives_a_short_header(client):
    resp = client.post("/api/stylize", data=form_with({}, filename="é" * 100_000 + ".png"))
    assert resp.status_code == 200
    header = resp.headers["Content-Disposition"]
    assert len(header) < 1000
    assert disposition_name(header) == "é" * MAX_STEM_CHARS + "-tiny-sepia.png"


def test_download_names_of_any_length_are_bounded():
    for length in (1, 79, 80, 81, 10_000):
        stem = download_name("x" * length + ".jpg", "mosaic", "jpg").removesuffix("-mosaic.jpg")
        assert stem == "x" * min(length, MAX_STEM_CHARS)


def test_quotes_and_line_breaks_never_reach_the_name():
    assert download_name('a"b\r\nSet-Cookie: x=1\t\x00.png', "mosaic", "png") == "ab Set-Cookie x=1-mosaic.png"
    assert download_name("C:\\Users\\me\\photo.png", "mosaic", "png") == "photo-mosaic.png"


@pytest.mark.parametrize("width, height, status", [
    (2_000_000, 1, 400), (1001, 1, 400), (1, 1500, 400), (1000, 1, 200), (64, 16_400, 200),
    # Taken, and shrunk to the default working size without becoming longer than the server takes
    # (8000x10 was painted at 1024x1 and refused as 1024:1).
    (8000, 10, 200), (3, 3000, 200), (5000, 5, 200),
], ids=["2000000x1", "1001x1", "1x1500", "1000x1", "64x16400", "8000x10", "3x3000", "5000x5"])
def test_images_far_longer_than_wide_are_refused_before_any_work(client, width, height, status):
    data = encoded(np.zeros((height, width, 3), np.uint8), "PNG")
    resp = client.post("/api/stylize", data={"style": TINY_STYLE, "image": (io.BytesIO(data), "strip.png")})
    assert resp.status_code == status, resp.data[:200]
    if status == 400:
        assert resp.json["error"] == "bad_shape" and "1,000 times" in resp.json["message"]


# Every upload route and the field its photos go in; the 415 names them, since JSON carries no file.
UPLOAD_ROUTES = [("/api/stylize", "'image'"), ("/api/jobs", "'image'"), ("/api/photos", "'image'"),
                 ("/api/batches", "'images'")]


@pytest.mark.parametrize("path, field", UPLOAD_ROUTES, ids=[path for path, _ in UPLOAD_ROUTES])
@pytest.mark.parametrize("content_type, body", [
    ("application/json", json.dumps({"style": TINY_STYLE, "image": "iVBORw0KGgo="})),
    ("image/png", PNG),
    ("text/plain", "style=tiny"),
], ids=["json", "raw-png", "text"])
def test_a_body_that_is_no_form_is_415_saying_to_send_multipart_with_the_photo_field(client, path, field,
                                                                                    content_type, body):
    resp = client.post(path, data=body, content_type=content_type)
    assert (resp.status_code, resp.json["error"]) == (415, "not_a_form"), resp.json
    message = resp.json["message"]
    assert "multipart/form-data" in message and field in message and content_type in message


def test_json_to_stylize_is_415_over_real_http(app):
    with serving(app) as url:
        request = urllib.request.Request(url + "/api/stylize", data=json.dumps({"style": TINY_STYLE}).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
    answer = json.load(caught.value)
    assert (caught.value.code, answer["error"]) == (415, "not_a_form")
    assert answer["message"] == ("Send the form as multipart/form-data (a file upload, as curl -F sends it), not "
                                 "application/json: the photo as a file in the 'image' field (or a stored photo's "
                                 "id in 'photo_id') and the style's id in 'style'.")


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=",
                                          "multipart/form-data; charset=utf-8"], ids=["bare", "empty", "charset"])
def test_a_multipart_body_without_a_boundary_is_415_saying_so_on_every_upload_route(app, content_type):
    """Such a body was read as a form without fields: 400 "The 'style' field is required." for a whole
    form sent under a hand-set Content-Type, as if the style had been left out."""
    form, _ = multipart({"style": TINY_STYLE}, {"image": ("p.png", PNG), "images": ("p.png", PNG)})
    with serving(app) as url:
        for path, field in UPLOAD_ROUTES:
            for body in (form, PNG):
                request = urllib.request.Request(url + path, data=body, headers={"Content-Type": content_type})
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(request, timeout=30)
                with caught.value as refused:
                    answer = json.load(refused)
                assert (refused.code, answer["error"]) == (415, "not_a_form"), (path, answer)
                assert "no boundary" in answer["message"] and field in answer["message"], (path, answer)
