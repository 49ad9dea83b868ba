"""A preset the style does not have is the same mistake on every route that takes one (a form field or a
query parameter): 400 `unknown_preset`, naming the style's presets, before any work (docs/gateway.md).
A real inference server serves a style-conditioned style with two presets."""

from __future__ import annotations

import io

import pytest

from tests.bff.pictures import animation, encoded, gradient
from tests.support.conditioned import PAINTING_STYLE

PNG = encoded(gradient(), "PNG")
PRESETS = "Its presets: marbling, mosaic."


@pytest.fixture(scope="module")
def client(painting_client):
    return painting_client


@pytest.fixture(scope="module")
def photo_url(client):
    answer = client.post("/api/photos", data={"image": (io.BytesIO(PNG), "photo.png")})
    assert answer.status_code == 201, answer.json
    return answer.json["url"]


def _form(field: str, **files) -> dict:
    return {"style": PAINTING_STYLE, field: "nope", **files}


@pytest.mark.parametrize("field", ["preset", "mix_preset"])
@pytest.mark.parametrize("path, files", [
    ("/api/stylize", {"image": "photo.png"}),
    ("/api/jobs", {"image": "photo.png"}),
    ("/api/jobs", {"image": "clip.gif"}),
    ("/api/batches", {"images": "photo.png"}),
], ids=["stylize", "jobs", "clip-jobs", "batches"])
def test_an_unknown_preset_in_a_form_is_400_unknown_preset(client, path, files, field):
    data = {"clip.gif": animation("GIF", 2), "photo.png": PNG}
    form = _form(field, **{name: (io.BytesIO(data[file]), file) for name, file in files.items()})
    if field == "mix_preset":
        form["preset"] = "marbling"
    answer = client.post(path, data=form)
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_preset"), answer.json
    assert answer.json["message"].endswith(PRESETS)


def test_an_unknown_preset_of_a_preview_is_the_same_400(client, photo_url):
    answer = client.get(f"{photo_url}/previews/{PAINTING_STYLE}?preset=nope")
    assert (answer.status_code, answer.json["error"]) == (400, "unknown_preset"), answer.json
    assert answer.json["message"].endswith(PRESETS)
    assert client.get(f"{photo_url}/previews/{PAINTING_STYLE}?preset=mosaic").status_code == 200
