"""GET /api/jobs/<id>/maps/<name>: what the style's critic sees in a finished result, as a PNG heat map."""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from bff.errors import ApiError
from bff.job_queue import job_queue
from bff.job_state import UNKNOWN_JOB, JobState
from bff.jobs import job_store
from tessera.critic_maps import MAP_NAMES

bp = Blueprint("maps", __name__, url_prefix="/api")


def maps_urls(job_id: str) -> dict[str, str]:
    """The URL of each map of a job, by name."""
    return {name: url_for("maps.job_map", job_id=job_id, name=name) for name in MAP_NAMES}


@bp.get("/jobs/<job_id>/maps/<name>")
def job_map(job_id: str, name: str):
    """The heat map (the result's size; blue 0, white 1/2, red 1): 404 for an unknown job or map name, 409
    while the job runs, and 404 when the job was not asked to explain."""
    if name not in MAP_NAMES:
        raise ApiError(404, "unknown_map", f"There is no map {name[:40]!r}; the maps are {', '.join(MAP_NAMES)}.")
    job = job_store().get(job_id) or job_queue().get(job_id)
    if job is None:
        raise ApiError(404, "unknown_job", UNKNOWN_JOB)
    snap = job.snapshot()
    if snap["state"] == JobState.FAILED.value:
        raise job.error
    if snap["state"] != JobState.DONE.value:
        raise ApiError(409, "not_ready", f"The job is still {snap['state']}; fetch its maps when it is done.")
    outcome = job.outcome
    if outcome is None or not outcome.maps:
        raise ApiError(404, "no_maps", "This job was not asked to explain its result (send explain=true with it).")
    resp = Response(outcome.maps[name], mimetype="image/png")
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Tessera-Version"] = str(outcome.version)
    return resp
