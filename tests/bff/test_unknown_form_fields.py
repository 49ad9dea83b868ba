"""A field or query parameter the route does not read is refused, never ignored: `-F strenght=0.2` gave the
full-strength image with 200, `?strenght=0.1` a full-strength preview, and `explain=true` to a batch was 202
with nothing explained. Each is 400 `unknown_field` naming it (and the field it may be a typo of), and a
query parameter sent twice is 400 `repeated_field`, as a form field is. A real inference server serves
tests.support.TINY_STYLE."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from bff import close_app
from bff.jobs import job_store_of
from bff.openapi import DOCUMENT, form_fields
from tests.bff.live import make_app
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

PNG = encoded(gradient(), "PNG")
PAGE_API = Path(__file__).resolve().parents[2] / "frontend_static" / "api.js"
PREVIEW = "/api/photos/{photo_id}/previews/{style_id}"


@pytest.fixture(scope="module")
def app(inference_server):
    app = make_app(servers=(inference_server,))
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def preview_url(client) -> str:
    """The preview URL the gateway lists for a stored photo (with its ?v=)."""
    photo = client.post("/api/photos", data={"image": (io.BytesIO(PNG), "photo.png")}).json
    previews = client.get(photo["previews_url"]).json["previews"]
    return next(p["url"] for p in previews if p["style"] == TINY_STYLE)


def _form(route: str, **fields) -> dict:
    photo = {"images" if route == "/api/batches" else "image": (io.BytesIO(PNG), "photo.png")}
    return {**({} if route == "/api/photos" else {"style": TINY_STYLE}), **photo, **fields}


@pytest.mark.parametrize("route, name, value, near", [
    ("/api/stylize", "strenght", "0.2", "strength"),
    ("/api/stylize", "keep_colours", "true", "keep_colors"),  # the docs' prose says "keep-colours"
    ("/api/stylize", "Style", TINY_STYLE, "style"),
    ("/api/stylize", "style_img", (io.BytesIO(PNG), "painting.png"), "style_image"),  # a file too
    ("/api/jobs", "sacle", "0.5", "scale"),
    ("/api/batches", "formats", "png", "format"),
], ids=["stylize-strength", "stylize-keep-colours", "stylize-cased", "stylize-file", "jobs-scale", "batches-format"])
def test_a_misspelt_form_field_is_400_naming_it_and_the_field_it_may_be(app, client, route, name, value, near):
    answer = client.post(route, data=_form(route, **{name: value}))
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_field"), answer.json
    assert answer.json["message"].startswith(f"The form has a field '{name}' that POST {route} does not read "
                                             f"(did you mean '{near}'?); send only image"), answer.json
    assert sum(job_store_of(app).count_by_state().values()) == 0


def test_explain_sent_to_a_batch_is_refused_naming_the_routes_that_take_it(app, client):
    """A batch's results are a zip with no heat maps: explain is not in its form, and was ignored (202)."""
    answer = client.post("/api/batches", data=_form("/api/batches", explain="true"))
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_field"), answer.json
    assert answer.json["message"].startswith("The form has a field 'explain' that POST /api/batches does not read "
                                             "(it is a field of POST /api/stylize and POST /api/jobs); send only "
                                             "images (repeated), archive, style,")
    assert sum(job_store_of(app).count_by_state().values()) == 0


def test_temporal_blend_sent_to_stylize_is_refused_naming_the_route_that_takes_it(app, client):
    """/api/stylize shared /api/jobs's form, so a clip's temporal_blend was read as one of its fields and
    ignored (a review); /api/stylize never takes a clip."""
    answer = client.post("/api/stylize", data=_form("/api/stylize", temporal_blend="0.5"))
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_field"), answer.json
    assert "(it is a field of POST /api/jobs)" in answer.json["message"], answer.json
    assert sum(job_store_of(app).count_by_state().values()) == 0


def test_temporal_blend_sent_with_a_photo_job_is_refused_as_for_clips_only(app, client):
    answer = client.post("/api/jobs", data=_form("/api/jobs", temporal_blend="0.5"))
    assert (answer.status_code, answer.json["error"]) == (400, "clip_only_field"), answer.json
    assert answer.json["message"].startswith("'temporal_blend' applies to clips only"), answer.json
    assert sum(job_store_of(app).count_by_state().values()) == 0
    # 0 turns blending off: it asks nothing of a photo and passes, as scale 1 does with a clip.
    assert client.post("/api/jobs", data=_form("/api/jobs", temporal_blend="0")).status_code == 202


def test_a_photo_upload_takes_only_its_image(client):
    answer = client.post("/api/photos", data=_form("/api/photos", style=TINY_STYLE))
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_field"), answer.json
    assert "(it is a field of POST /api/stylize, POST /api/jobs and POST /api/batches); send only image." in (
        answer.json["message"])


@pytest.mark.parametrize("query, error, message", [
    ("strenght=0.1", "unknown_field",
     f"The query parameter 'strenght' is not one GET {PREVIEW} takes (did you mean 'strength'?); it takes preset, "
     "strength, keep_colors, scale and v."),
    ("keep_colours=true", "unknown_field", f"The query parameter 'keep_colours' is not one GET {PREVIEW} takes "
                                           "(did you mean 'keep_colors'?); it takes preset, strength, keep_colors, "
                                           "scale and v."),
    ("strength=0.5&strength=0.1", "repeated_field", "The query has 2 'strength' parameters; send it once."),
], ids=["misspelt", "british", "repeated"])
def test_a_previews_query_takes_only_its_parameters_once_each(client, preview_url, query, error, message):
    answer = client.get(f"{preview_url}&{query}")
    assert (answer.status_code, answer.json["error"], answer.json["message"]) == (400, error, message)


def test_the_query_the_page_adds_to_a_preview_is_taken(client, preview_url):
    """frontend_static/api.js previewUrl: strength, scale and keep_colors on the listed URL (preset, v)."""
    answer = client.get(f"{preview_url}&strength=0.5&scale=0.5&keep_colors=true")
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg", answer.json


def test_a_photo_route_without_a_query_refuses_one(client, preview_url):
    thumbnail = preview_url.split("/previews/")[0] + "/thumbnail.jpg"
    answer = client.get(f"{thumbnail}?size=64")
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_field"), answer.json
    assert answer.json["message"] == ("GET /api/photos/{photo_id}/thumbnail.jpg reads no query parameters; "
                                      "leave 'size' out.")


@pytest.mark.parametrize("query, message", [
    ("strength=0.2", "POST /api/stylize reads no query parameters: send 'strength' as a field of the form (with "
                     "curl: -F strength=...)."),
    ("strenght=0.2", "POST /api/stylize reads no query parameters, and 'strenght' is no field of its form either "
                     "(did you mean 'strength'?)."),
], ids=["a-form-field", "misspelt"])
def test_an_upload_route_takes_its_options_in_the_form_not_the_query(client, query, message):
    answer = client.post(f"/api/stylize?{query}", data=_form("/api/stylize"))
    assert (answer.status_code, answer.json["error"], answer.json["message"]) == (400, "unknown_field", message)


def page_forms(source: str) -> dict[str, set[str]]:
    """Each route frontend_static/api.js posts a form to, with every field it may append to that form: its
    own `form.append`s and those of the helpers it hands the form to (upload, send), whatever their condition."""
    functions = {m[1]: m[0] for m in re.finditer(r"^(?:export )?(?:async )?function (\w+)\(.*?^}", source, re.M | re.S)}
    # a call with the form as its first or second argument: `upload("./api/jobs", form, ...)`, `send(url, form)`
    hands_form = re.compile(r'(?<![.\w])(\w+)\(\s*(?:("\.(/api/[^"]+)"|[^,()]+)\s*,\s*)?form\b')

    def appended(name: str, seen: frozenset = frozenset()) -> set[str]:
        body = functions[name]
        fields = set(re.findall(r'form\.append\("([^"]+)"', body))
        for callee, *_ in hands_form.findall(body):
            if callee in functions and callee not in seen | {name}:
                fields |= appended(callee, seen | {name})
        return fields

    routes: dict[str, set[str]] = {}
    for name, body in functions.items():
        for _, _, route in hands_form.findall(body):
            if route:
                routes.setdefault(route, set()).update(appended(name))
    return routes


def test_every_field_and_query_parameter_the_page_sends_is_declared():
    """The page (frontend_static/api.js) must never meet these 400s: each form field it may send a route is a
    field of that route's form, and each query parameter it adds to a preview, or finds on a listed one, the
    preview's."""
    source = PAGE_API.read_text()
    forms = page_forms(source)
    every_append = set(re.findall(r'form\.append\("([^"]+)"', source))
    assert forms and set().union(*forms.values()) == every_append  # each append is traced to its route
    undeclared = {(route, field) for route, fields in forms.items() for field in fields - set(form_fields(route))}
    assert undeclared == set()
    queried = set(re.findall(r'query\.set\("([^"]+)"', source))
    assert queried
    declared = {p["name"] for p in DOCUMENT["paths"][PREVIEW]["get"]["parameters"] if p["in"] == "query"}
    assert queried | {"v", "preset"} <= declared


def test_a_listed_preview_url_carries_only_declared_parameters(client, preview_url):
    declared = {p["name"] for p in DOCUMENT["paths"][PREVIEW]["get"]["parameters"] if p["in"] == "query"}
    assert {name for name, _ in parse_qsl(urlsplit(preview_url).query)} <= declared
