"""The look fields of /api/stylize and /api/jobs (keep_colors, style_image, preset, mix) against a real server."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bff.errors import ApiError
from bff.form_limits import FILE_FIELDS
from bff.jobs import job_store_of
from bff.look_form import Look, check_look_fits
from tessera.colors import to_ycbcr
from tessera.style_facts import PresetFacts, StyleSummary, TilingFacts
from tessera.style_sources import StyleSource
from tests.bff.pictures import animation, encoded, gradient
from tests.support import TINY_STYLE
from tests.support.conditioned import PAINTING_STYLE

PNG = encoded(gradient(), "PNG")
JPEG = encoded(gradient(), "JPEG")
CUT_JPEG, CUT_PNG = JPEG[: len(JPEG) * 2 // 3], PNG[: len(PNG) * 2 // 3]  # cut short, headers intact


def form(**fields) -> dict:
    return {"style": TINY_STYLE, "image": (io.BytesIO(PNG), "photo.png"), **fields}


def painting_form(**fields) -> dict:
    """A form for the style that takes style images; a preset named "swirls" is its "marbling"."""
    if fields.get("preset") == "swirls":
        fields["preset"] = "marbling"
    return form(style=PAINTING_STYLE, **fields)


def _chroma_error(result: np.ndarray, photo: np.ndarray) -> float:
    inside = ((result > 0) & (result < 255)).all(axis=-1)
    return float(np.abs(to_ycbcr(result)[inside][:, 1:] - to_ycbcr(photo)[inside][:, 1:]).max())


def test_keep_colors_gives_the_photos_chroma(client):
    photo = np.asarray(Image.open(io.BytesIO(PNG)).convert("RGB"))
    resp = client.post("/api/stylize", data=form(keep_colors="true"))
    assert resp.status_code == 200, resp.json
    kept = np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGB"))
    plain = np.asarray(Image.open(io.BytesIO(client.post("/api/stylize", data=form()).data)).convert("RGB"))
    assert _chroma_error(kept, photo) <= 1.0 < _chroma_error(plain, photo)


@pytest.mark.parametrize(("fields", "status", "error"), [
    ({"keep_colors": "maybe"}, 400, "invalid_keep_colors"),
    ({"mix": "0.3"}, 400, "invalid_mix"),
    ({"mix_preset": "swirls"}, 400, "invalid_mix"),
    ({"preset": "swirls", "mix_preset": "ribbons", "mix": "2"}, 400, "invalid_mix"),
    ({"preset": "swirls", "style_image": (io.BytesIO(PNG), "s.png")}, 400, "invalid_style"),
    ({"style_image": (io.BytesIO(b"plain text, not a painting"), "s.png")}, 415, "unsupported_format"),
    ({"style_image": (io.BytesIO(b""), "s.png")}, 400, "missing_field"),  # a chosen file with no bytes
    ({"style_image": (io.BytesIO(CUT_JPEG), "s.jpg")}, 422, "undecodable_image"),  # as a damaged photo
    ({"preset": "swirls", "mix_image": (io.BytesIO(CUT_PNG), "m.png")}, 422, "undecodable_image"),
    ({"preset": "swirls", "mix_image": (io.BytesIO(b""), "m.png")}, 400, "missing_field"),
])
def test_bad_look_fields_are_refused_with_a_sentence(painting_client, fields, status, error):
    resp = painting_client.post("/api/stylize", data=painting_form(**fields))
    assert resp.status_code == status, resp.json
    if error:
        assert resp.json["error"] == error
    assert resp.json["message"].endswith(".")


def test_a_fixed_style_given_a_preset_is_refused_by_the_server(client):
    resp = client.post("/api/stylize", data=form(preset="swirls"))
    assert resp.status_code == 400, resp.json
    assert "fixed style" in resp.json["message"]


@pytest.mark.parametrize("data", [animation("WEBP", 2), b"plain text", CUT_JPEG, PNG],
                         ids=["animated", "not-an-image", "damaged", "good"])
@pytest.mark.parametrize("route", ["/api/stylize", "/api/jobs", "/api/batches"])
def test_a_style_that_takes_no_style_image_says_so_before_what_is_wrong_with_the_image(client, route, data):
    """An animated style image for a fixed style was told "a style is one still picture"; the still
    picture then sent was refused as "a fixed style: it takes no presets or style images"."""
    fields = form(style_image=(io.BytesIO(data), "painting.img"))
    if route == "/api/batches":
        fields["images"] = fields.pop("image")
    resp = client.post(route, data=fields)
    assert (resp.status_code, resp.json["error"]) == (400, "invalid_style"), resp.json
    assert "fixed style" in resp.json["message"] and "field" not in resp.json


FIELD_NAMES = ("image", "style_image", "mix_image", "preset", "mix_preset")


@pytest.mark.parametrize(("fields", "opening"), [
    ({"style_image": CUT_JPEG}, "The style image cannot be used: the JPEG image is damaged"),
    ({"style_image": b"plain text"}, "The style image is not a PNG, JPEG or WebP image."),
    ({"style_image": b""}, "The style image is an empty file."),
    ({"preset": "swirls", "mix_image": CUT_PNG}, "The style image to mix in cannot be used: the PNG image is damaged"),
    ({"image": CUT_PNG}, "The PNG image is damaged"),
    ({"image": b"plain text"}, "That file is n"),  # /api/jobs: "neither an image nor a clip"
    ({"image": b""}, "The uploaded image file is empty."),
], ids=["style-damaged", "style-not-an-image", "style-empty", "mix-damaged", "photo-damaged", "photo-not-an-image",
        "photo-empty"])
@pytest.mark.parametrize("route", ["/api/stylize", "/api/jobs"])
def test_a_bad_file_is_named_as_people_call_it_not_by_its_form_field(painting_client, route, fields, opening):
    """The page shows these sentences to people: "The style image ...", never "The 'style_image' file"."""
    files = {name: (io.BytesIO(value), "file.img") if isinstance(value, bytes) else value
             for name, value in fields.items()}
    answer = painting_client.post(route, data=painting_form(**files)).json
    message = answer["message"]
    assert message.startswith(opening), message
    assert not any(f"'{name}'" in message for name in FIELD_NAMES), message
    # A page tells which file by the answer's field (only a style image's), not by the sentence.
    file_field = next((name for name in ("style_image", "mix_image") if name in fields), None)
    assert answer.get("field") == file_field, answer


@pytest.mark.parametrize(("fields", "message"), [
    ({"style_image": animation("WEBP", 2)},
     "The style image is an animated WebP clip of several frames; a style is one still PNG, JPEG or WebP picture."),
    ({"preset": "swirls", "mix_image": animation("PNG", 3)},
     "The style image to mix in is an animated PNG clip of several frames; a style is one still PNG, JPEG or "
     "WebP picture."),
    ({"style_image": animation("GIF", 2)},
     "The style image is an animated GIF clip of several frames; a style is one still PNG, JPEG or WebP picture."),
], ids=["style-webp", "mix-apng", "style-gif"])
@pytest.mark.parametrize("route", ["/api/stylize", "/api/jobs", "/api/batches"])
def test_an_animated_style_image_is_refused_as_a_style_not_pointed_to_clip_jobs(painting_client, route, fields,
                                                                                message):
    """It said "That file is a video clip ...: clips are restyled as jobs (POST /api/jobs)", and a job
    refused it the same way: the clip jobs restyle photos' clips, they take no animated style."""
    data = painting_form(**{name: (io.BytesIO(value), "moving.img") if isinstance(value, bytes) else value
                            for name, value in fields.items()})
    if route == "/api/batches":
        data["images"] = data.pop("image")
    resp = painting_client.post(route, data=data)
    assert (resp.status_code, resp.json["error"], resp.json["message"]) == (415, "style_image_is_clip", message)
    assert resp.json["field"] == next(iter(name for name in fields if name.endswith("_image")))


@pytest.mark.parametrize("file_field", ["style_image", "mix_image"])
@pytest.mark.parametrize("route", ["/api/stylize", "/api/jobs", "/api/batches"])
def test_a_one_frame_gif_as_a_style_is_told_to_be_saved_as_png_or_jpeg_as_a_photo_is(painting_client, route,
                                                                                      file_field):
    """A painting saved as a GIF of one frame was "not a PNG, JPEG or WebP image", with no word of what to do,
    where a photo gets still_gif's advice."""
    data = painting_form(**{file_field: (io.BytesIO(animation("GIF", 1)), "painting.gif")})
    if file_field == "mix_image":
        data["preset"] = "marbling"
    if route == "/api/batches":
        data["images"] = data.pop("image")
    resp = painting_client.post(route, data=data)
    assert (resp.status_code, resp.json["error"], resp.json["field"]) == (415, "still_gif", file_field), resp.json
    assert resp.json["message"].startswith(f"{FILE_FIELDS[file_field].label} is a GIF of a single frame")
    assert "save it as PNG or JPEG" in resp.json["message"]


LOOK_FIELD_NAMES = ("style_image", "mix_image", "mix_preset", "'preset'", "'mix'")


@pytest.mark.parametrize(("fields", "message"), [
    ({"mix_preset": "swirls"}, "A second style to mix in needs a first style: a preset or a style image."),
    ({"mix_image": PNG}, "A second style to mix in needs a first style: a preset or a style image."),
    ({"mix": "0.3"}, "The share of the second style needs a second style to mix in: a preset or a style image."),
    ({"preset": "swirls", "mix_preset": "ribbons", "mix": "2"},
     "The share of the second style must be a number from 0 to 1, not '2'."),
    ({"preset": "swirls", "style_image": PNG}, "Choose a preset or a style image as the style, not both."),
    ({"preset": "swirls", "mix_preset": "ribbons", "mix_image": PNG},
     "Choose a preset or a style image to mix in, not both."),
], ids=["mix-preset-alone", "mix-image-alone", "share-alone", "share-out-of-range", "two-first-styles",
        "two-second-styles"])
@pytest.mark.parametrize("route", ["/api/stylize", "/api/jobs", "/api/batches"])
def test_a_mix_without_its_styles_is_said_as_people_call_them_not_by_form_fields(client, route, fields, message):
    """These said "A style to mix in needs a first style in 'style_image' or 'preset'.", while the
    messages about a bad style image already said "The style image ..."; every route reads the look alike."""
    files = {name: (io.BytesIO(value), "file.png") if isinstance(value, bytes) else value
             for name, value in fields.items()}
    data = form(**files)
    if route == "/api/batches":
        data["images"] = data.pop("image")
    resp = client.post(route, data=data)
    assert resp.status_code == 400 and resp.json["message"] == message, resp.json
    assert not any(name in message for name in LOOK_FIELD_NAMES), message
    # An error about a style image names its field, so the page says it under that painting.
    assert resp.json.get("field") == (("mix_image" if "mix_image" in fields else "style_image")
                                      if "not both" in message else None)


def test_jobs_take_the_look_fields_too(client):
    resp = client.post("/api/jobs", data=form(keep_colors="1"))
    assert resp.status_code == 202
    bad = client.post("/api/jobs", data=form(mix="0.5"))
    assert bad.status_code == 400 and bad.json["error"] == "invalid_mix"


def test_styles_list_says_kind_and_presets(client):
    styles = client.get("/api/styles").json["styles"]
    tiny = next(s for s in styles if s["id"] == TINY_STYLE)
    assert tiny["kind"] == "fixed" and tiny["presets"] == [] and tiny["accepts_style_images"] is False
    spec = client.get("/api/openapi.json").json
    fields = spec["components"]["schemas"]["StylizeForm"]["properties"]
    assert {"style_image", "mix_image", "mix", "keep_colors", "preset", "mix_preset"} <= set(fields)


def _summary(kind: str, presets: tuple[str, ...] = (), style_images: bool = False) -> StyleSummary:
    tiling = TilingFacts(halo=8, size_multiple=4, default_tile_size=512, max_tile_size=1024, mode="crop",
                         needs_thumbnail=False, thumbnail_size=0, max_tile_edge=4096, max_tile_pixels=1 << 22)
    return StyleSummary(id="s", display_name="Some Style", description="", credits="", license="",
                        serving_version=1, available_versions=(1,), status="ok", status_message="",
                        preview_jpeg=b"", pinned=False, tiling=tiling, kind=kind,
                        presets=tuple(PresetFacts(p, p.title(), b"", "", "") for p in presets),
                        accepts_style_images=style_images)


@pytest.mark.parametrize(("style", "sources", "error", "words"), [
    (_summary("fixed"), (StyleSource(preset="swirls"),), "invalid_style", "Some Style is a fixed style"),
    (_summary("fixed"), (StyleSource(image=PNG),), "invalid_style", "Some Style is a fixed style"),
    (_summary("conditioned", ("swirls",)), (StyleSource(image=PNG),), "invalid_style",
     "Some Style paints only its presets: it takes no style images."),
    (_summary("conditioned", ("swirls", "mosaic"), True), (StyleSource(preset="swirls"), StyleSource(preset="nope")),
     "unknown_preset", "Some Style has no preset 'nope'. Its presets: swirls, mosaic."),
    (_summary("conditioned", ("swirls", "mosaic"), True), (StyleSource(preset="Mosaic"),),
     "unknown_preset", "Some Style has no preset 'Mosaic' (did you mean 'mosaic'?). Its presets: swirls, mosaic."),
])
def test_a_look_the_style_cannot_paint_is_refused_before_any_work(style, sources, error, words):
    with pytest.raises(ApiError) as refused:
        check_look_fits(Look(sources), style)
    assert (refused.value.status, refused.value.error) == (400, error) and words in refused.value.message


@pytest.mark.parametrize("style", [_summary("conditioned", ("swirls",)), _summary("fixed")],
                         ids=["presets-only", "fixed"])
def test_a_look_the_style_refuses_is_about_the_style_and_names_no_field(style):
    """The page says it at the style the person chose, not under the painting."""
    with pytest.raises(ApiError) as refused:
        check_look_fits(Look((StyleSource(preset="swirls"), StyleSource(image=PNG))), style)
    assert refused.value.error == "invalid_style" and refused.value.field is None


def test_a_look_the_style_can_paint_passes():
    check_look_fits(Look((StyleSource(preset="mosaic"), StyleSource(image=PNG))),
                    _summary("conditioned", ("swirls", "mosaic"), True))
    check_look_fits(Look((), keep_colors=True), _summary("fixed"))


@pytest.mark.parametrize("route", ["/api/jobs", "/api/batches"])
def test_queued_routes_refuse_a_preset_for_a_fixed_style_before_a_job_exists(app, client, route):
    """/api/jobs answered 202 and the job failed later with the server's message; now every route that
    queues work refuses at once, as /api/stylize does."""
    fields = {"images": [(io.BytesIO(PNG), "a.png")]} if route == "/api/batches" else {}
    data = {**form(preset="swirls"), **fields}
    if route == "/api/batches":
        data.pop("image")
    refused = client.post(route, data=data)
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_style"), refused.json
    assert "is a fixed style" in refused.json["message"]
    assert sum(job_store_of(app).count_by_state().values()) == 0
