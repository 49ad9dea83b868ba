"""GET /api/limits: what an upload must fit, published so that a client (the page) can refuse a file
before sending it; the gateway checks every upload against the same numbers anyway."""

from __future__ import annotations

from flask import Blueprint, jsonify

from bff.backend import backend
from tessera import formats
from tessera.brush_scale import DEFAULT_WORK_SIDE
from tessera.style_sources import MAX_STYLE_IMAGE_PIXELS

bp = Blueprint("limits", __name__, url_prefix="/api")


@bp.get("/limits")
def limits():
    """The byte and pixel limits of an upload, the longest side over the shortest it may have, the most
    photos and bytes of a batch (its photos' files; a zip's unpacked), the formats accepted (signature,
    largest side) and the well-known ones refused (HEIC, AVIF, TIFF, BMP: label and signature, so that a
    refusal can say what a file is), the pixels a style image (a painting) may have, the limits of a video
    clip (seconds; megapixels over all frames), and where photos are kept: "memory" (this process only) or "redis" (the
    shared job store, which may write them to disk)."""
    config = backend().config
    store = "memory" if config.job_store == "memory" else "redis"
    return jsonify(max_upload_bytes=config.max_upload_bytes, max_pixels=config.max_pixels,
                   max_aspect_ratio=config.max_aspect_ratio, max_style_image_pixels=MAX_STYLE_IMAGE_PIXELS,
                   max_batch_photos=config.max_batch_photos, max_batch_bytes=config.max_batch_bytes,
                   formats=formats.describe(), unread_formats=formats.describe_unread(),
                   clips={"max_seconds": config.max_clip_seconds, "max_megapixels": config.max_clip_pixels / 1e6,
                          "containers": ["mp4", "mov", "webm", "gif", "webp", "apng"], "outputs": ["mp4", "webm"]},
                   photos={"max_per_client": config.max_photos_per_client, "ttl_s": config.photo_ttl_s,
                           "preview_size": config.preview_size, "default_work_side": DEFAULT_WORK_SIDE,
                           "store": store})
