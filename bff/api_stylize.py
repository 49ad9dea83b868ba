"""POST /api/stylize: restyle one image and answer with it, in the same request."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, request

from bff.api_maps import maps_urls
from bff.backend import backend
from bff.errors import ApiError
from bff.forms import read_order
from bff.job_state import FINISHED, JobState
from bff.jobs import job_store, result_estimate
from bff.pixel_budget import pixel_budget
from bff.restyle import image_response, restyle_work
from bff.upload_size import upload_estimate

bp = Blueprint("stylize", __name__, url_prefix="/api")
log = logging.getLogger(__name__)
# How often a waiting request checks whether its client is still connected.
HANG_UP_CHECK_S = 0.25


@bp.post("/stylize")
def stylize():
    """Answers with the restyled image in the input's format, or the one `format` asks for.

    The work runs in the same bounded pool as jobs, so synchronous callers cannot bypass its limit.
    """
    gateway = backend()
    store = job_store()
    store.check_capacity(result_estimate(upload_estimate()))  # refuse before the costly decode
    order = read_order(gateway)
    # Counted in the budget for kept results like a job's (an explained one keeps its maps afterwards).
    job = store.submit(restyle_work(gateway, pixel_budget(), order), work_pixels=order.work_pixels,
                       result_bytes=result_estimate(len(order.image), order.explain))
    keep = order.explain  # its maps are fetched from the job afterwards, until the job expires
    snap: dict = {}
    # Under waitress (channel_request_lookahead > 0) this says whether the client has hung up.
    hung_up = request.environ.get("waitress.client_disconnected", lambda: False)
    # The client's own deadline ends the work; the margin covers queueing and encoding.
    deadline = time.monotonic() + gateway.config.stylize_timeout_s + 30
    try:
        while True:
            snap = job.wait_finished(timeout=HANG_UP_CHECK_S)
            if snap["state"] in FINISHED or time.monotonic() > deadline:
                break
            if hung_up():
                store.cancel(job.id)
                log.info("client hung up; cancelled its %s (%d of %d tiles done)", job.id, snap["done"],
                         snap["total"])
                return Response(status=499)  # nobody reads it; access logs see why the call ended
    finally:
        # An explained result stays in the store for its maps; anything else (an error too) is dropped.
        if not (keep and snap.get("state") == JobState.DONE):
            store.discard(job.id)
    if snap["state"] == JobState.FAILED:
        raise job.error
    if snap["state"] != JobState.DONE:
        raise ApiError(504, "timeout", "Restyling took longer than the gateway waits; try a smaller image.")
    resp = image_response(job.outcome, attachment=False)
    if job.outcome.maps:
        resp.headers["Link"] = ", ".join(f'<{url}>; rel="{name}-map"' for name, url in maps_urls(job.id).items())
    return resp
