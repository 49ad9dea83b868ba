"""POST /api/stylize: restyle one image and answer with it, in the same request."""

from __future__ import annotations

from flask import Blueprint, Response

from bff.backend import backend
from bff.forms import read_order
from bff.jobs import JobState, job_store
from bff.restyle import restyle_work

bp = Blueprint("stylize", __name__, url_prefix="/api")


@bp.post("/stylize")
def stylize():
    """Answers with the restyled image in the input's format, or the one `format` asks for.

    The work runs in the same bounded pool as jobs, so synchronous callers cannot bypass its limit.
    """
    gateway = backend()
    order = read_order(gateway)
    store = job_store()
    job = store.submit(restyle_work(gateway, order))
    try:
        revision, snap = 0, job.snapshot()
        while snap["state"] not in (JobState.DONE.value, JobState.FAILED.value):
            revision, snap = job.wait(revision, timeout=gateway.config.stylize_timeout_s + 5)
        if job.error is not None:
            raise job.error
        outcome = job.outcome
    finally:
        store.discard(job.id)
    resp = Response(outcome.data, mimetype=outcome.mime_type)
    resp.headers["Content-Disposition"] = f'inline; filename="{outcome.filename}"'
    resp.headers["X-Tessera-Version"] = str(outcome.version)
    return resp
