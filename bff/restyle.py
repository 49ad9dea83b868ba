"""The work of one job: restyle an order's pixels on the inference servers, encode the result, answer with it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Response

from bff import images
from bff.backend import Backend, call
from bff.forms import Order
from bff.jobs import Outcome, Progress

log = logging.getLogger(__name__)


def restyle_work(backend: Backend, order: Order) -> Callable[[Progress], Outcome]:
    """A job body for JobStore.submit; it raises ApiError for everything a client should hear about."""

    def work(progress: Progress) -> Outcome:
        started = time.monotonic()
        result = call(backend.client.stylize, order.pixels, order.style, strength=order.strength,
                      progress=progress, timeout=backend.config.stylize_timeout_s)
        styled = time.monotonic()
        data = images.encode(result.image, order.format)
        height, width = order.pixels.shape[:2]
        log.info("restyled %dx%d with %s v%d in %.2f s, encoded %s in %.2f s", width, height, order.style,
                 result.version, styled - started, order.format, time.monotonic() - styled)
        return Outcome(data=data, mime_type=images.FORMATS[order.format], filename=order.filename,
                       version=result.version)

    return work


def image_response(outcome: Outcome, attachment: bool) -> Response:
    """The HTTP answer carrying a finished image, named for download, never cached by others."""
    resp = Response(outcome.data, mimetype=outcome.mime_type)
    disposition = "attachment" if attachment else "inline"
    resp.headers["Content-Disposition"] = f'{disposition}; filename="{outcome.filename}"'
    resp.headers["X-Tessera-Version"] = str(outcome.version)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
