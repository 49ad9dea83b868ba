"""The job flow for large images: create a job, follow its progress as Server-Sent Events, fetch it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context, url_for

from bff import images, metrics
from bff.api_maps import maps_urls
from bff.backend import backend
from bff.batch_forms import task_from_order
from bff.client_limits import client_address, stream_slots
from bff.clips import clip_work, read_clip_order, refuse_clip_fields, task_from_clip, upload_is_clip
from bff.errors import ApiError
from bff.forms import Order, read_order
from bff.job_queue import MemoryQueue, job_queue
from bff.job_state import FINISHED, UNKNOWN_JOB, JobState
from bff.jobs import Job, JobStore, job_store, result_estimate
from bff.pixel_budget import pixel_budget
from bff.restyle import image_response, restyle_work
from bff.upload_size import upload_estimate
from tessera import formats
from tessera.video_sniff import INPUT_LABELS

bp = Blueprint("jobs", __name__, url_prefix="/api")

# A comment line this often keeps proxies and idle timeouts from closing a quiet progress stream.
KEEPALIVE_S = 15.0
# How often a quiet stream checks whether its client is still connected.
HANG_UP_CHECK_S = 1.0


@bp.post("/jobs")
def create_job():
    """Validates the upload like /api/stylize, queues it and answers 202 with the job's links."""
    gateway = backend()
    shared = not isinstance(job_queue(), MemoryQueue)
    if shared:
        job_queue().check_capacity()  # refuse before the costly decode
    else:  # with what its result will keep counted too, so a full budget refuses before it as well
        job_store().check_capacity(result_estimate(upload_estimate()))
    if upload_is_clip():
        return _accepted(_submit_clip(gateway, shared))
    refuse_clip_fields()  # a photo's job: temporal_blend would change nothing
    order = _read_photo_order(gateway)
    if shared:  # the upload itself goes to Redis, for whichever replica or worker is free
        job = job_queue().submit_task(task_from_order(order))
    else:
        job = job_store().submit(restyle_work(gateway, pixel_budget(), order), work_pixels=order.work_pixels,
                                 result_bytes=result_estimate(len(order.image), order.explain))
    return _accepted(job)


def _read_photo_order(gateway) -> Order:
    """read_order for an upload that is no clip; its 415 names clips too, since this route takes them.
    An uploaded file is decoded once here (holding its pixels in the budget, like its job), so one
    damaged past its header is refused with 422 before a job exists; a stored photo (`photo_id`) was
    checked so when it was uploaded. Raises ApiError as read_order does."""
    try:
        order = read_order(gateway)
    except ApiError as error:
        head = _head(request.files.get("image"))
        about_photo = error.field is None and formats.sniff(head) is None
        if error.error != "unsupported_format" or not about_photo:
            raise  # not about the photo (a style image that is no image, say)
        raise ApiError(415, "unsupported_format", f"That file is neither a {formats.LABELS} image nor a video "
                                                  f"clip ({INPUT_LABELS}), judged by its content"
                                                  f"{formats.what_it_is(head)}.") from None
    if "image" in request.files:
        with pixel_budget().hold(order.pixel_count):
            images.check_decodes(order.image, gateway.config.max_pixels)
    return order


def _head(upload) -> bytes:
    """An uploaded file's first 32 bytes (read from its start, wherever it was read to, and left where it
    was); b"" without a file."""
    if upload is None:
        return b""
    position = upload.stream.tell()
    upload.stream.seek(0)
    head = upload.stream.read(32)
    upload.stream.seek(position)
    return head


def _accepted(job) -> Response:
    snap = job.snapshot()
    body = {**snap, **_facts(job, snap), **job_links(job.id)}
    resp = jsonify(body)
    resp.status_code = 202
    resp.headers["Location"] = body["status_url"]
    return resp


def _submit_clip(gateway, shared: bool):
    """A clip's job: in this process's job store, or (Redis) queued for whichever runner is free."""
    order = read_clip_order(gateway)
    if shared:
        return job_queue().submit_task(task_from_clip(order))
    return job_store().submit(clip_work(gateway, pixel_budget(), order), work_pixels=order.work_pixels,
                              result_bytes=result_estimate(len(order.data)), what="clip")


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    """Cancels an unfinished job: a queued one never starts, a running one stops within a tile's or a
    frame's time and ends failed with 499 cancelled (kept until it expires, for whoever follows it).
    Discards a finished one with its result (and maps): later reads answer 404. 204 either way."""
    job = _find(job_id)
    for store in _stores():
        store.delete(job.id)
    return Response(status=204)


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancels an unfinished job as DELETE does, and leaves a finished one as it is, its result kept until
    it expires: what a Cancel button sends, since the job may finish while the request travels. 204."""
    job = _find(job_id)
    for store in _stores():
        store.cancel(job.id)
    return Response(status=204)


def _stores():
    queue = job_queue()
    return [job_store(), queue.store if isinstance(queue, MemoryQueue) else queue]


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    """The job's state and progress, for clients that poll instead of streaming."""
    job = _find(job_id)
    snap = job.snapshot()
    return jsonify({**snap, **_facts(job, snap), **job_links(job.id), **_maps(job)})


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str):
    """A text/event-stream of `progress` events ({done, total}) ending in one `done` or `error` event.

    Every event has an id; a client that reconnects with Last-Event-ID resumes after it (with Redis,
    on any replica)."""
    job = _find(job_id)
    slots, client = stream_slots(), client_address()
    slots.open(client)  # 429 before any byte is sent when this client, or everyone, has too many open
    # Under waitress (channel_request_lookahead > 0) this says whether the client has hung up.
    hung_up = request.environ.get("waitress.client_disconnected", lambda: False)
    metrics.stream_opened()
    last_event_id = request.headers.get("Last-Event-ID")
    resp = Response(stream_with_context(_events(job, last_event_id, hung_up)), mimetype="text/event-stream")
    resp.call_on_close(lambda: slots.close(client))  # runs however the stream ends, even unstarted
    resp.call_on_close(metrics.stream_closer(current_app))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx and friends would otherwise hold events back
    return resp


@bp.get("/jobs/<job_id>/result")
def job_result(job_id: str):
    """The finished image; 409 while the job still runs, the job's own error if it failed (without its
    Retry-After: asking for the result again cannot help a job that has ended; sending it again can)."""
    job = _find(job_id)
    snap = job.snapshot()
    if snap["state"] == JobState.FAILED.value:
        error = job.error
        raise ApiError(error.status, error.error, error.message, field=error.field)
    if snap["state"] != JobState.DONE.value:
        raise ApiError(409, "not_ready", f"The job {_progress(snap)}; fetch the result when it is done.")
    outcome = job.outcome
    if outcome is None:  # expired between the two reads
        raise ApiError(404, "unknown_job", "The job's result has expired or was deleted. "
                                           "Please upload the image again.")
    return image_response(outcome, attachment=True)


def _progress(snap: dict) -> str:
    """How far an unfinished job is, after "The job": queued, or started with or without its tiles counted."""
    if snap["state"] == JobState.QUEUED.value:
        return "is queued: it has not started yet"
    if not snap["total"]:
        return "has started; its tiles are not counted yet"
    return f"is still running ({snap['done']} of {snap['total']} tiles done)"


def _find(job_id: str) -> Job:
    job = job_store().get(job_id) or job_queue().get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", UNKNOWN_JOB)
    return job


def _facts(job, snap: dict) -> dict:
    """`queue_position`, `eta_s` and `expires_at` from the store that holds the job (bff.job_estimates),
    for the job as `snap` shows it: its state and its place are read at two moments, and a job that
    started in between is still shown queued, so it needs its place."""
    if not isinstance(job, Job):
        try:
            return job.store.queue_facts(job.id, snap)  # Redis
        except ApiError:
            return {}  # Redis is away: the job's own state still says enough
    for store in _stores():
        if isinstance(store, JobStore) and store.get(job.id) is job:
            return store.queue_facts(job.id, snap)
    return {}


def _maps(job: Job) -> dict:
    """{"maps": {name: url}} for a finished job that was asked to explain, else {}."""
    outcome = job.outcome if job.snapshot()["state"] == JobState.DONE.value else None
    return {"maps": maps_urls(job.id)} if outcome is not None and outcome.maps else {}


def job_links(job_id: str) -> dict:
    """A job's status, events and result URLs, as its status and a batch's status give them."""
    return {
        "status_url": url_for("jobs.job_status", job_id=job_id),
        "events_url": url_for("jobs.job_events", job_id=job_id),
        "result_url": url_for("jobs.job_result", job_id=job_id),
    }


def _events(job: Job, last_event_id: str | None, hung_up: Callable[[], bool]) -> Iterator[str]:
    revision, quiet_since = last_event_id, time.monotonic()
    position = None
    while True:
        try:
            new_revision, snap = job.wait(revision, timeout=HANG_UP_CHECK_S)
        except ApiError as err:  # the job expired (or was discarded) while someone followed it
            yield _event("error", {"id": job.id, "state": JobState.FAILED.value, "status": err.status,
                                   "error": err.error, "message": err.message})
            return
        finished = snap["state"] in FINISHED
        if new_revision == revision and not finished:
            if hung_up():
                return  # frees the stream's slot and thread now, not at the next keep-alive
            facts = _facts(job, snap) if snap["state"] == JobState.QUEUED.value else {}
            if facts and facts["queue_position"] != position:  # a queued job moved up: say so
                position, quiet_since = facts["queue_position"], time.monotonic()
                yield _event("progress", {**snap, **facts}, revision)
                continue
            if time.monotonic() - quiet_since >= KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            continue
        revision, quiet_since = new_revision, time.monotonic()
        facts = _facts(job, snap)
        position = facts.get("queue_position")
        if snap["state"] == JobState.DONE.value:
            yield _event("done", {**snap, **facts, "result_url": url_for("jobs.job_result", job_id=job.id),
                                  **_maps(job)},
                         revision)
            return
        if snap["state"] == JobState.FAILED.value:
            yield _event("error", {**snap, **facts}, revision)
            return
        yield _event("progress", {**snap, **facts}, revision)


def _event(name: str, data: dict, event_id: object = None) -> str:
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {name}\ndata: {json.dumps(data)}\n\n"
