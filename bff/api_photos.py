"""Upload a photo once, then preview it in every style: /api/photos and its previews (docs/gateway.md)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request, url_for

from bff import images
from bff.backend import backend
from bff.client_limits import client_address
from bff.errors import ApiError
from bff.form_limits import check_form
from bff.forms import check_shape, read_image_field, read_scale, scale_for
from bff.look_form import Look, check_look_fits, fraction, truth
from bff.photo_stores import photo_store
from bff.photos import Photo
from bff.previews import PreviewKey, encode_jpeg, previews
from tessera.style_sources import StyleSource

bp = Blueprint("photos", __name__, url_prefix="/api")


@bp.post("/photos")
def upload_photo():
    """Keeps the multipart `image` and answers 201 with its id, size, expiry and links; 415 not_a_form
    for a body that is no form; 415, 413 or 400 from the header, 422 when the file is damaged past it
    (its preview-size thumbnail is decoded here)."""
    config = backend().config
    store, client = photo_store(), client_address()
    store.check_room(client, request.content_length or 0)  # 429 before the body is read
    check_form(request, config, "the photo as a file in the 'image' field")
    data, filename = read_image_field(config.max_upload_bytes)
    opened = images.open_upload(data, config.max_pixels)  # 415, 413, 422 from the header
    width, height = opened.size
    opened.close()
    check_shape(width, height, config.max_aspect_ratio)
    photo = store.put(data, width, height, opened.format, filename or "", client)
    try:  # the thumbnail every preview is made from, decoded now: a file damaged past its header is 422 here,
        previews().thumbnail(photo)  # not a stored photo whose every preview fails
    except ApiError:
        store.delete(photo.id)
        raise
    resp = jsonify(_describe(photo))
    resp.status_code = 201
    resp.headers["Location"] = url_for("photos.photo_info", photo_id=photo.id)
    return resp


@bp.get("/photos/<photo_id>")
def photo_info(photo_id: str):
    """The stored photo's facts and links; 404 when unknown or expired."""
    return jsonify(_describe(photo_store().get(photo_id)))


@bp.delete("/photos/<photo_id>")
def delete_photo(photo_id: str):
    """Forgets the photo now (jobs made from it keep their own copy)."""
    photo_store().delete(photo_id)
    return Response(status=204)


@bp.get("/photos/<photo_id>/image")
def photo_image(photo_id: str):
    """The stored file itself, as uploaded (for a page that reloads without it)."""
    photo = photo_store().get(photo_id)
    return _private(Response(photo.data, mimetype=f"image/{photo.format}"), photo)


@bp.get("/photos/<photo_id>/thumbnail.jpg")
def thumbnail(photo_id: str):
    """The photo at preview size: the very pixels every preview is restyled from (the page mixes
    previews with it for pixel-mix strength)."""
    photo = photo_store().get(photo_id)
    return _private(Response(encode_jpeg(previews().thumbnail(photo)), mimetype="image/jpeg"), photo)


@bp.get("/photos/<photo_id>/previews")
def list_previews(photo_id: str):
    """Every look the photo can be previewed in: each serving fixed style and each preset of each
    serving conditioned style, with its preview URL. `featured` marks the grid of the collection:
    every fixed style and each conditioned style's first preset."""
    photo = photo_store().get(photo_id)
    looks = []
    for style in backend().styles():
        if style.status != "SERVING":
            continue
        common = {"style": style.id, "version": style.serving_version, "kind": style.kind,
                  "strength_mode": style.strength_mode or None}
        if style.kind != "conditioned":
            looks.append({**common, "preset": None, "name": style.display_name, "featured": True,
                          "url": _preview_url(photo.id, style)})
            continue
        for index, preset in enumerate(style.presets):
            looks.append({**common, "preset": preset.id, "name": f"{style.display_name}: {preset.name}",
                          "featured": index == 0, "url": _preview_url(photo.id, style, preset.id)})
    return jsonify(photo=_describe(photo), previews=looks)


@bp.get("/photos/<photo_id>/previews/<style_id>")
def preview(photo_id: str, style_id: str):
    """The photo's thumbnail restyled with one style (image/jpeg). Query: `preset` (conditioned
    styles; default the first), `strength` (0..1, default 1), `keep_colors`, `scale` (a brush scale in
    (0, 1] or 'auto': the full result at that scale, shrunk; absent: the model runs on the thumbnail,
    or for a look outside the featured grid on its copy at the more-looks size, enlarged);
    `v` only busts caches. 404 for an unknown photo or style; 400 for a bad query, an unknown preset
    included (`unknown_preset`, as on every route that takes a preset: bff.look_form.check_look_fits)."""
    photo = photo_store().get(photo_id)
    gateway = backend()
    style = gateway.serving_style(style_id)
    preset = request.args.get("preset", "").strip()
    if preset:  # the forms' own check: 400 invalid_style for a fixed style, 400 unknown_preset
        check_look_fits(Look((StyleSource(preset=preset),)), style)
    if not preset and style.presets:
        preset = style.presets[0].id
    strength = fraction(request.args.get("strength"), "invalid_strength", "Strength")
    scale = _preview_scale(photo, request.args.get("scale"))
    keep = truth(request.args.get("keep_colors"), "keep_colors")
    key = PreviewKey(photo_id=photo.id, style=style.id, version=style.serving_version, preset=preset,
                     strength=1.0 if strength is None else strength, scale=scale, keep_colors=keep,
                     featured=not style.presets or preset == style.presets[0].id)
    data = previews().render(gateway, photo, key)
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["X-Tessera-Version"] = str(style.serving_version)
    if scale is not None:
        work_side = previews().working_side(photo, scale)
        resp.headers["X-Tessera-Scale"] = f"{scale:.6g}"
        resp.headers["X-Tessera-Preview-Exact"] = "true" if work_side <= previews().max_work_side else "false"
    return _private(resp, photo)


def _preview_scale(photo: Photo, raw: str | None) -> float | None:
    """The preview's brush scale: None when absent (the model runs on the thumbnail), the photo's
    default for 'auto', else the number (400 outside (0, 1])."""
    if raw is None or raw.strip() == "":
        return None
    return scale_for(photo.width, photo.height, read_scale(raw))


def _preview_url(photo_id: str, style, preset: str | None = None) -> str:
    params = {"v": style.serving_version}
    if preset:
        params["preset"] = preset
    return url_for("photos.preview", photo_id=photo_id, style_id=style.id, **params)


def _describe(photo: Photo) -> dict:
    return {**photo.describe(),
            "url": url_for("photos.photo_info", photo_id=photo.id),
            "image_url": url_for("photos.photo_image", photo_id=photo.id),
            "thumbnail_url": url_for("photos.thumbnail", photo_id=photo.id),
            "previews_url": url_for("photos.list_previews", photo_id=photo.id)}


def _private(resp: Response, photo: Photo) -> Response:
    """Cacheable by this browser only, until the photo expires (a reload then costs no request)."""
    resp.headers["Cache-Control"] = f"private, max-age={max(0, int(photo.expires_at - time.time()))}"
    return resp
