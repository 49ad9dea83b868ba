"""POST /api/stylize: restyle one image and answer with it, in the same request."""

from __future__ import annotations

from flask import Blueprint

from bff.backend import backend
from bff.errors import ApiError
from bff.forms import read_order
from bff.jobs import JobState, job_store
from bff.restyle import image_response, restyle_work

bp = Blueprint("stylize", __name__, url_prefix="/api")


@bp.post("/stylize")
def stylize():
    """Answers with the restyled image in the input's format, or the one `format` asks for.

    The work runs in the same bounded pool as jobs, so synchronous callers cannot bypass its limit.
    """
    gateway = backend()
    store = job_store()
    store.check_capacity()  # refuse before the costly decode
    order = read_order(gateway)
    job = store.submit(restyle_work(gateway, order))
    try:
        # The client's own deadline ends the work; the margin covers queueing and encoding.
        snap = job.wait_finished(timeout=gateway.config.stylize_timeout_s + 30)
    finally:
        store.discard(job.id)
    if snap["state"] == JobState.FAILED:
        raise job.error
    if snap["state"] != JobState.DONE:
        raise ApiError(504, "timeout", "Restyling took longer than the gateway waits; try a smaller image.")
    return image_response(job.outcome, attachment=False)
