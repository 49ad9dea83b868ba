"""GET /api/styles and each style's preview image."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from bff.backend import backend, public_status
from bff.errors import ApiError, did_you_mean

bp = Blueprint("styles", __name__, url_prefix="/api")


@bp.get("/styles")
def list_styles():
    """Every style the servers know, serving or not, with a link to its preview."""
    styles = backend().styles()
    return jsonify(styles=[_describe(s) for s in styles])


@bp.get("/styles/<style_id>/presets/<preset_id>/preview.jpg")
def preset_preview(style_id: str, preset_id: str):
    """A preset's preview JPEG (its source image, small)."""
    style = backend().style(style_id)
    preset = next((p for p in style.presets if p.id == preset_id), None)
    if preset is None or not preset.preview_jpeg:
        hint = did_you_mean(preset_id, [p.id for p in style.presets if p.preview_jpeg])
        raise ApiError(404, "no_preview", f"The style {style_id!r} has no preset {preset_id[:64]!r} with a "
                                          f"preview{hint}.")
    resp = Response(preset.preview_jpeg, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.get("/styles/<style_id>/preview.jpg")
def preview(style_id: str):
    """The serving version's preview JPEG; the version in the query string only busts caches."""
    style = backend().style(style_id)
    if not style.preview_jpeg:
        raise ApiError(404, "no_preview", f"The style {style_id!r} has no preview image.")
    resp = Response(style.preview_jpeg, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


def _describe(style) -> dict:
    preview_url = None
    if style.preview_jpeg:
        preview_url = url_for("styles.preview", style_id=style.id, v=style.serving_version)
    return {
        "id": style.id,
        "name": style.display_name,
        "description": style.description,
        "credits": style.credits,
        "license": style.license,
        "version": style.serving_version,
        "status": style.status,
        "status_message": public_status(style),
        "pinned": style.pinned,
        "preview_url": preview_url,
        "kind": style.kind,
        "accepts_style_images": style.accepts_style_images,
        "strength_mode": style.strength_mode or None,
        "has_critic": style.has_critic,
        "presets": [{"id": p.id, "name": p.name, "credits": p.credits, "license": p.license,
                     "preview_url": url_for("styles.preset_preview", style_id=style.id, preset_id=p.id,
                                            v=style.serving_version) if p.preview_jpeg else None}
                    for p in style.presets],
    }
