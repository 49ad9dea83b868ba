"""The job flow for large images: create a job, follow its progress as Server-Sent Events, fetch it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Blueprint, Response, jsonify, stream_with_context, url_for

from bff.backend import backend
from bff.errors import ApiError
from bff.forms import read_order
from bff.jobs import Job, JobState, job_store
from bff.pixel_budget import pixel_budget
from bff.restyle import image_response, restyle_work

bp = Blueprint("jobs", __name__, url_prefix="/api")

# A comment line this often keeps proxies and idle timeouts from closing a quiet progress stream.
KEEPALIVE_S = 15.0


@bp.post("/jobs")
def create_job():
    """Validates the upload like /api/stylize, queues it and answers 202 with the job's links."""
    gateway = backend()
    job_store().check_capacity()  # refuse before the costly decode
    order = read_order(gateway)
    job = job_store().submit(restyle_work(gateway, pixel_budget(), order))
    body = {**job.snapshot(), **_links(job.id)}
    resp = jsonify(body)
    resp.status_code = 202
    resp.headers["Location"] = body["status_url"]
    return resp


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    """The job's state and progress, for clients that poll instead of streaming."""
    job = _find(job_id)
    return jsonify({**job.snapshot(), **_links(job.id)})


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str):
    """A text/event-stream of `progress` events ({done, total}) ending in one `done` or `error` event."""
    job = _find(job_id)
    store = job_store()
    store.open_event_stream()  # 429 before any byte is sent when too many streams are open
    resp = Response(stream_with_context(_events(job)), mimetype="text/event-stream")
    resp.call_on_close(store.close_event_stream)  # runs however the stream ends, even unstarted
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx and friends would otherwise hold events back
    return resp


@bp.get("/jobs/<job_id>/result")
def job_result(job_id: str):
    """The finished image; 409 while the job still runs, the job's own error if it failed."""
    job = _find(job_id)
    snap = job.snapshot()
    if snap["state"] == JobState.FAILED.value:
        raise job.error
    if snap["state"] != JobState.DONE.value:
        raise ApiError(409, "not_ready", f"The job is still {snap['state']} ({snap['done']} of "
                                         f"{snap['total']} tiles done); fetch the result when it is done.")
    return image_response(job.outcome, attachment=True)


def _find(job_id: str) -> Job:
    job = job_store().get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", "There is no such job; it may have expired. "
                                           "Please upload the image again.")
    return job


def _links(job_id: str) -> dict:
    return {
        "status_url": url_for("jobs.job_status", job_id=job_id),
        "events_url": url_for("jobs.job_events", job_id=job_id),
        "result_url": url_for("jobs.job_result", job_id=job_id),
    }


def _events(job: Job) -> Iterator[str]:
    revision = -1
    while True:
        new_revision, snap = job.wait(revision, timeout=KEEPALIVE_S)
        if new_revision == revision:
            yield ": keep-alive\n\n"
            continue
        revision = new_revision
        if snap["state"] == JobState.DONE.value:
            yield _event("done", {**snap, "result_url": url_for("jobs.job_result", job_id=job.id)})
            return
        if snap["state"] == JobState.FAILED.value:
            yield _event("error", snap)
            return
        yield _event("progress", snap)


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
