"""A form's shape, over real HTTP on every upload route: each part named, sent whole, a file as a file and
text as text, and each field once unless the route takes a list. Each slip (curl -F without @, a form cut
off, a field sent twice) is a 400 that says which, not a 500, a misleading sentence or a silent choice."""

from __future__ import annotations

import json
import urllib.request

import pytest

from bff import close_app
from tests.bff.live import make_app, post_form, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

PNG = encoded(gradient(), "PNG")
BOUNDARY = "shape-test-boundary"
ROUTES = ["/api/stylize", "/api/jobs", "/api/photos", "/api/batches"]
# Each route's photo field and a part that sends it as a file.
PHOTO_FIELD = {"/api/stylize": "image", "/api/jobs": "image", "/api/photos": "image", "/api/batches": "images"}


@pytest.fixture(scope="module")
def gateway(inference_server):
    app = make_app(servers=(inference_server,))
    with serving(app) as base:
        yield base
    close_app(app)


def part(name: str | None, value: bytes | str, filename: str | None = None) -> bytes:
    """One part of a multipart body, written by hand: `name` None leaves name= out, `filename` None filename=."""
    disposition = "form-data" + (f'; name="{name}"' if name is not None else "")
    disposition += f'; filename="{filename}"' if filename is not None else ""
    data = value.encode() if isinstance(value, str) else value
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def post_parts(base: str, path: str, *parts: bytes, cut: int | None = None) -> tuple[int, dict]:
    """POSTs the parts as one form (its first `cut` bytes only, when given)."""
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return post_form(base + path, body[:cut], f"multipart/form-data; boundary={BOUNDARY}")


def photo_part(path: str) -> bytes:
    return part(PHOTO_FIELD[path], PNG, "photo.png")


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("filename", [None, "a.png"], ids=["text", "file"])
def test_a_part_without_a_name_is_400_saying_so(gateway, path, filename):
    status, answer = post_parts(gateway, path, part(None, "abc", filename))
    assert (status, answer["error"]) == (400, "unnamed_field"), answer
    assert "A part of the form has no name" in answer["message"]


@pytest.mark.parametrize("path, name, opening", [
    ("/api/stylize", "style_image", "The style image must be sent as a file (with curl: style_image=@painting.jpg)"),
    ("/api/stylize", "mix_image", "The style image to mix in must be sent as a file (with curl: mix_image=@"),
    ("/api/jobs", "style_image", "The style image must be sent as a file"),
    ("/api/batches", "style_image", "The style image must be sent as a file"),
    ("/api/stylize", "image", "The photo must be sent as a file (with curl: image=@photo.jpg)"),
    ("/api/jobs", "image", "The photo must be sent as a file"),
    ("/api/photos", "image", "The photo must be sent as a file"),
    ("/api/batches", "images", "Each photo of a batch must be sent as a file (with curl: images=@photo.jpg)"),
    ("/api/batches", "archive", "The zip of photos must be sent as a file (with curl: archive=@photos.zip)"),
])
def test_a_file_sent_as_text_is_400_saying_to_send_it_as_a_file(gateway, path, name, opening):
    """curl -F style_image=painting.jpg (without @) sends the file's name as text: the painting was ignored
    and the style's first preset painted instead (200); a batch's photos said "Attach photos"."""
    others = [part("style", TINY_STYLE)] if path != "/api/photos" else []
    if name not in PHOTO_FIELD.values():
        others.append(photo_part(path))
    status, answer = post_parts(gateway, path, *others, part(name, "painting.jpg"))
    assert (status, answer["error"]) == (400, "not_a_file"), answer
    assert answer["message"].startswith(opening), answer
    assert answer.get("field") == (name if name in ("style_image", "mix_image") else None)


def test_a_text_field_sent_as_a_file_is_400_saying_to_send_it_as_text(gateway):
    status, answer = post_parts(gateway, "/api/stylize", part("style", TINY_STYLE, "style.txt"),
                                photo_part("/api/stylize"))
    assert (status, answer["error"]) == (400, "not_text"), answer
    assert "'style' field must be sent as text" in answer["message"]


@pytest.mark.parametrize("size", [15_000, 700_000], ids=["15kB", "700kB-past-the-parsers-memory"])
def test_a_photo_part_without_a_filename_says_to_send_it_as_a_file(gateway, size):
    """It was a 413 calling the photo a text field, with a byte count of its bytes decoded as UTF-8 (15,000
    bytes sent: "holds 27,380 bytes or more")."""
    data = (PNG * (size // len(PNG) + 1))[:size]
    status, answer = post_parts(gateway, "/api/stylize", part("style", TINY_STYLE), part("image", data))
    assert (status, answer["error"]) == (400, "not_a_file"), answer
    assert answer["message"].startswith("The photo must be sent as a file")


def test_a_text_field_of_bytes_that_are_no_utf8_is_counted_in_the_bytes_sent(gateway):
    status, answer = post_parts(gateway, "/api/stylize", part("style", TINY_STYLE), photo_part("/api/stylize"),
                                part("notes", b"\xff" * 20_000))
    assert (status, answer["error"]) == (413, "field_too_large"), answer
    assert "holds 20,000 bytes; text fields may hold at most 16,000" in answer["message"]


@pytest.mark.parametrize("path", ROUTES)
def test_a_form_cut_off_is_400_saying_it_is_incomplete(gateway, path):
    """Werkzeug read a form without its closing boundary as one without fields: "The 'style' field is
    required." though style was sent, first."""
    parts = [part("style", TINY_STYLE), photo_part(path)]
    cut = len(parts[0]) + len(parts[1]) // 2  # in the middle of the photo
    status, answer = post_parts(gateway, path, *parts, cut=cut)
    assert (status, answer["error"]) == (400, "incomplete_form"), answer
    assert "cut off" in answer["message"] and "'style'" not in answer["message"]


def test_a_part_without_a_content_disposition_is_400_saying_so(gateway):
    """Werkzeug's parser gave up on it, and the form was read as one without fields."""
    headless = f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nabc\r\n".encode()
    status, answer = post_parts(gateway, "/api/stylize", part("style", TINY_STYLE), headless)
    assert (status, answer["error"]) == (400, "unreadable_form"), answer
    assert "no Content-Disposition header" in answer["message"]


@pytest.mark.parametrize("path, repeated", [
    ("/api/stylize", [part("image", PNG, "b.png")]),
    ("/api/stylize", [part("style", TINY_STYLE)]),
    ("/api/stylize", [part("strength", "0.5"), part("strength", "abc")]),
    ("/api/jobs", [part("scale", "0.5"), part("scale", "auto")]),
    ("/api/photos", [part("image", PNG, "b.png")]),
    ("/api/batches", [part("archive", b"PK", "a.zip"), part("archive", b"PK", "b.zip")]),
    ("/api/batches", [part("format", "png"), part("format", "jpeg")]),
], ids=["stylize-image", "stylize-style", "stylize-strength", "jobs-scale", "photos-image", "batches-archive",
        "batches-format"])
def test_a_field_sent_twice_is_400_naming_it_on_every_route(gateway, path, repeated):
    """/api/stylize took the first of two images, styles or strengths (200); only a second 'archive' was
    refused, by a check of its own."""
    name = repeated[0].split(b'name="')[1].split(b'"')[0].decode()
    base = [part("style", TINY_STYLE)] if path != "/api/photos" else []
    if name != "archive":
        base.append(photo_part(path))
    status, answer = post_parts(gateway, path, *base, *repeated)
    assert (status, answer["error"]) == (400, "repeated_field"), answer
    assert f"2 '{name}' fields; send it once" in answer["message"]


def test_a_batchs_images_may_repeat(gateway):
    status, answer = post_parts(gateway, "/api/batches", part("style", TINY_STYLE),
                                part("images", PNG, "a.png"), part("images", PNG, "b.png"))
    assert status == 202 and len(answer["photos"]) == 2, answer


@pytest.mark.parametrize("path", ["/api/stylize", "/api/batches"])
def test_too_many_fields_lists_every_field_of_the_routes_form(gateway, path):
    """It said "send only image, style, strength and format", leaving scale, keep_colors, the look and the
    others out."""
    extra = [part(f"f{i}", "x") for i in range(100)]  # a batch takes its photos' parts too
    status, answer = post_parts(gateway, path, part("style", TINY_STYLE), photo_part(path), *extra)
    assert (status, answer["error"]) == (400, "too_many_fields"), answer
    listed = answer["message"].split("send only ", 1)[1]
    form = form_schema(gateway, path)
    for name in form["properties"]:
        assert name in listed, (name, answer["message"])
    assert "mix_preset" in listed and "keep_colors" in listed


def form_schema(base: str, path: str) -> dict:
    """The schema of the form POST `path` takes, from the gateway's /api/openapi.json."""
    with urllib.request.urlopen(f"{base}/api/openapi.json", timeout=30) as resp:
        document = json.load(resp)
    schema = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
