"""What a job's status says beside its snapshot, from the store that holds it: its place in the queue,
how long it may take and when its result expires (bff.job_estimates, bff.redis_estimates). One
definition for a job's own status and events and for each photo of a batch."""

from __future__ import annotations

from bff.errors import ApiError
from bff.job_queue import MemoryQueue, job_queue
from bff.jobs import Job, JobStore, job_store


def job_stores() -> list:
    """The app's job stores: the in-process one for photos, and the queue's (in process, or Redis)."""
    queue = job_queue()
    return [job_store(), queue.store if isinstance(queue, MemoryQueue) else queue]


def job_facts(job, snap: dict) -> dict:
    """`queue_position`, `eta_s` and `expires_at` (ISO 8601, once finished) for the job as `snap` shows
    it: its state and its place are read at two moments, and a job that started in between is still
    shown queued, so it needs its place. {} when Redis is away (the job's own state still says enough)."""
    if not isinstance(job, Job):
        try:
            return job.store.queue_facts(job.id, snap)  # Redis
        except ApiError:
            return {}
    for store in job_stores():
        if isinstance(store, JobStore) and store.get(job.id) is job:
            return store.queue_facts(job.id, snap)
    return {}
