"""Photo batches: one upload of several photos and one set of options, one job per photo, a zip back."""

from __future__ import annotations

import io
import secrets
import zipfile

from flask import Blueprint, Response, jsonify, url_for

from bff.api_jobs import job_links
from bff.backend import backend
from bff.batch_forms import limit_batch_request, read_batch
from bff.errors import ApiError
from bff.forms import unique_name
from bff.job_queue import MemoryQueue, job_queue
from bff.job_state import FINISHED, JobState
from bff.upload_size import file_bytes
from tessera import formats

bp = Blueprint("batches", __name__, url_prefix="/api")


@bp.post("/batches")
def create_batch():
    """Checks the bounds, then every photo's header, queues one job per photo and answers 202."""
    gateway = backend()
    limit_batch_request(gateway)
    queue = job_queue()
    queue.check_capacity()  # refuse a full queue before reading the upload
    if isinstance(queue, MemoryQueue):  # and a full budget for kept results, counting the photos (zipped or not)
        queue.store.check_capacity(file_bytes("images", "archive"))
    batch = read_batch(gateway)
    # All or none (MemoryQueue/RedisJobStore.submit_tasks): the results of a batch cut short would be nobody's.
    batch_id = secrets.token_urlsafe(16)
    jobs = queue.submit_tasks([task for _, task in batch.tasks], batch_id)
    # "file": the name its result has in the batch's zip, so errors.txt can name a photo that failed;
    # "version": the model version every photo names (bff.batch_forms.Batch).
    entries = [{"job": job.id, "name": name, "file": task.filename, "version": task.version}
               for (name, task), job in zip(batch.tasks, jobs, strict=True)]
    # Skipped zip entries are stored after the photos, as entries without a job (_entries splits them).
    queue.save_batch(batch_id, entries + [s.describe() for s in batch.skipped])
    resp = jsonify(_status(batch_id, entries, [s.describe() for s in batch.skipped]))
    resp.status_code = 202
    resp.headers["Location"] = url_for("batches.batch_status", batch_id=batch_id)
    return resp


@bp.get("/batches/<batch_id>")
def batch_status(batch_id: str):
    """Every photo's progress, and the batch's: photos done and failed, tiles done of all known tiles."""
    return jsonify(_status(batch_id, *_entries(batch_id)))


@bp.delete("/batches/<batch_id>")
@bp.post("/batches/<batch_id>/cancel")  # as a job has both; a batch's DELETE discards nothing, so they are one
def cancel_batch(batch_id: str):
    """Cancels every unfinished photo of the batch, as POST /api/jobs/<id>/cancel does one (it ends failed
    with 499 cancelled), and discards nothing, unlike DELETE /api/jobs/<id> of a finished job: finished
    photos stay, downloadable until they expire, and so does the batch, whose zip is how they are
    fetched. A batch that has ended is left as it is. 204; 404 unknown_batch for a batch it does not know."""
    entries, _ = _entries(batch_id)
    queue = job_queue()
    store = queue.store if isinstance(queue, MemoryQueue) else queue
    for entry in entries:
        store.cancel(entry["job"])  # a finished or forgotten job is left as it is
    return Response(status=204)


@bp.get("/batches/<batch_id>/result")
def batch_result(batch_id: str):
    """A zip of every restyled photo (plus errors.txt naming the photos that failed and the zip entries
    skipped, one line each: `<name> (<which>): <why>`); 409 until all ended."""
    entries, skipped = _entries(batch_id)
    status = _status(batch_id, entries, skipped)
    if status["state"] != "finished":
        raise ApiError(409, "not_ready", f"The zip is not ready: {status['finished_photos']} of "
                                         f"{status['total_photos']} photos have finished so far; fetch it when all "
                                         "have.")
    buffer = io.BytesIO()
    names: set[str] = set()
    errors = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # images are compressed already
        for position, (entry, photo) in enumerate(zip(entries, status["photos"], strict=True), start=1):
            job = job_queue().get(entry["job"])
            outcome = job.outcome if job is not None else None
            if outcome is None:
                which = f"photo {position} of {len(entries)}"
                if "file" in entry:  # (a batch recorded before it was kept has no result name)
                    which += f", result {entry['file']}"
                errors.append(f"{entry['name']} ({which}): {photo.get('message') or 'the result has expired'}")
                continue
            # Unique already (read_batch), so each keeps the name its job downloads under; this only
            # guards a batch queued before that, in a store that outlived an upgrade.
            archive.writestr(unique_name(outcome.filename, names), outcome.data)
        errors += [f"{entry['name']} (skipped): {entry['reason']}" for entry in skipped]
        if errors:
            archive.writestr("errors.txt", "\n".join(errors) + "\n")
    resp = Response(buffer.getvalue(), mimetype="application/zip")
    resp.headers["Content-Disposition"] = f'attachment; filename="tessera-batch-{batch_id[:8]}.zip"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/batches/<batch_id>/photos/<int:index>/image")
def batch_photo(batch_id: str, index: int):
    """The batch's photo at `index` (upload order) as uploaded, kept as long as its job: the before image
    of its result for a page that reloads without it. 404 once its job is gone."""
    entries, _ = _entries(batch_id)
    job = job_queue().get(entries[index]["job"]) if index < len(entries) else None
    data = job.original if job is not None else None
    if data is None:
        raise ApiError(404, "unknown_photo", "This batch has no such photo, or it has expired with its result.")
    fmt = formats.sniff(data)  # the batch checked every header, so it is one of the formats
    resp = Response(data, mimetype=fmt.mime_type if fmt is not None else "application/octet-stream")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _entries(batch_id: str) -> tuple[list[dict], list[dict]]:
    """The batch's photos ({"job", "name", "file": its result's name, "version": the model version it names},
    upload order) and its skipped zip entries ({"name", "reason"})."""
    entries = job_queue().load_batch(batch_id)
    if entries is None:
        raise ApiError(404, "unknown_batch", "There is no such batch; it may have expired.")
    return [e for e in entries if "job" in e], [e for e in entries if "job" not in e]


def _status(batch_id: str, entries: list[dict], skipped: list[dict]) -> dict:
    queue = job_queue()
    photos = []
    for index, entry in enumerate(entries):
        job = queue.get(entry["job"])
        snap = job.snapshot() if job is not None else {
            "id": entry["job"], "state": JobState.FAILED.value, "done": 0, "total": 0, "status": 410,
            "error": "expired", "message": "This photo's job has expired or was deleted."}
        kept = {"image_url": url_for("batches.batch_photo", batch_id=batch_id, index=index)} if job is not None else {}
        photos.append({"name": entry["name"], **snap, **job_links(entry["job"]), **kept})
    # As each job's own status says, for the photos shown finished: one read for the whole batch.
    expiries = queue.expiries([p["id"] for p in photos if p["state"] in FINISHED])
    for photo in photos:
        if photo["id"] in expiries:
            photo["expires_at"] = expiries[photo["id"]]
    finished = sum(p["state"] in FINISHED for p in photos)
    return {
        "id": batch_id,
        "state": "finished" if finished == len(photos) else "running",
        # A batch recorded before its photos named a version has none to say (null).
        "version": next((e["version"] for e in entries if e.get("version")), None),
        "total_photos": len(photos),
        "finished_photos": finished,
        "done_photos": sum(p["state"] == JobState.DONE.value for p in photos),
        "failed_photos": sum(p["state"] == JobState.FAILED.value for p in photos),
        "cancelled_photos": sum(p.get("error") == "cancelled" for p in photos),  # of the failed ones
        "tiles_done": sum(p["done"] for p in photos),
        "tiles_total": sum(p["total"] for p in photos),
        "status_url": url_for("batches.batch_status", batch_id=batch_id),
        "result_url": url_for("batches.batch_result", batch_id=batch_id),
        "photos": photos,
        "skipped": skipped,
    }

