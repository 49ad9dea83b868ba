"""The work of one job: restyle an order's pixels on the inference servers, encode the result, answer with it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote

from flask import Response
from werkzeug.utils import secure_filename

from bff import images
from bff.backend import Backend, call
from bff.forms import Order
from bff.jobs import Outcome, Progress
from bff.pixel_budget import PixelBudget
from tessera import formats
from tessera.brush_scale import resolve_scale

log = logging.getLogger(__name__)


def restyle_work(backend: Backend, budget: PixelBudget, order: Order) -> Callable[[Progress], Outcome]:
    """A job body for JobStore.submit: decode, restyle and encode while holding the order's pixels in
    `budget`; it raises ApiError for everything a client should hear about (422 for a damaged image)."""

    def work(progress: Progress) -> Outcome:
        with budget.hold(order.pixel_count):
            return _restyle(backend, order, progress)

    return work


def _restyle(backend: Backend, order: Order, progress: Progress) -> Outcome:
    """Only the encoded result outlives this call: pixels, tiles and canvas are dropped on return."""
    started = time.monotonic()
    pixels = images.decode_upload(order.image, backend.config.max_pixels).pixels
    decoded = time.monotonic()
    height, width = pixels.shape[:2]
    scale = resolve_scale(order.scale, width, height)
    result = call(backend.client.stylize, pixels, order.style, strength=order.strength,
                  progress=progress, timeout=backend.config.stylize_timeout_s,
                  style_sources=order.look.sources, keep_colors=order.look.keep_colors, scale=scale,
                  explain=order.explain)
    styled = time.monotonic()
    data = images.encode(result.image, order.format)
    maps = images.heat_map_pngs(result.maps, width, height)
    log.info("restyled %dx%d with %s v%d at brush scale %.3g: decoded in %.2f s, styled in %.2f s, encoded %s "
             "in %.2f s", width, height, order.style, result.version, scale, decoded - started, styled - decoded,
             order.format, time.monotonic() - styled)
    return Outcome(data=data, mime_type=formats.get(order.format).mime_type, filename=order.filename,
                   version=result.version, maps=maps)


def content_disposition(disposition: str, filename: str) -> str:
    """An RFC 6266 header value: a plain ASCII `filename` for every client and, when the name is not
    plain ASCII, the exact name as RFC 5987 `filename*` (UTF-8, percent-encoded)."""
    fallback = _ascii_name(filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _ascii_name(filename: str) -> str:
    """`filename` in plain ASCII for clients that read no `filename*`: a stem of other scripts only, which
    Werkzeug drops whole ("写真-umber-oil.webp" to "-umber-oil.webp", "写真.jpg" to "jpg"), becomes "image"
    as an empty one does (bff.forms.download_name)."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = secure_filename(stem)
    if not ascii_stem or ascii_stem.startswith("-"):
        ascii_stem = f"image{ascii_stem}"
    return f"{ascii_stem}.{secure_filename(extension)}" if extension else ascii_stem


def image_response(outcome: Outcome, attachment: bool) -> Response:
    """The HTTP answer carrying a finished image, named for download, never cached by others."""
    resp = Response(outcome.data, mimetype=outcome.mime_type)
    disposition = "attachment" if attachment else "inline"
    resp.headers["Content-Disposition"] = content_disposition(disposition, outcome.filename)
    resp.headers["X-Tessera-Version"] = str(outcome.version)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
