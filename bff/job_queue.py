"""The app's queue of restyle tasks: in this process (`--job-store memory`) or in Redis (redis://...).

Routes see one interface either way: check_capacity, submit_tasks, get, expiries, save_batch/load_batch,
queue_depth, and job handles with snapshot/wait/outcome/error/original (bff.jobs.Job or
bff.redis_jobs.RedisJob). A batch's jobs keep their photo as uploaded (`original`) as long as themselves.
With Redis, this gateway also runs `job_workers` of the queued jobs itself (bff.job_runner).
"""

from __future__ import annotations

import math
import threading
import time
from functools import partial

import redis
from flask import Flask, current_app

from bff import jobs
from bff.backend import backend_of
from bff.clips import run_clip_task
from bff.config import GatewayConfig
from bff.errors import busy
from bff.job_runner import JobRunner
from bff.job_state import FINISHED
from bff.jobs import Job, JobStore, Progress, Submission, result_budget_of
from bff.pixel_budget import PixelBudget, pixel_budget_of
from bff.redis_jobs import RedisJobStore
from bff.tasks import RestyleTask, run_task

EXTENSION = "tessera_job_queue"


class MemoryQueue:
    """Tasks on an in-process JobStore; batches in a dict. Everything is lost when the process stops."""

    def __init__(self, store: JobStore, execute, ttl_s: float, max_queued: int):
        self.store = store
        self.execute = execute
        self.ttl_s = ttl_s
        self.max_queued = max_queued
        self._batches: dict[str, tuple[float, list[dict]]] = {}
        self._submitted: list[Job] = []
        self._lock = threading.Lock()

    def queue_depth(self) -> int:
        with self._lock:
            self._submitted = [j for j in self._submitted if j.snapshot()["state"] not in FINISHED]
            return len(self._submitted)

    def check_capacity(self, count: int = 1) -> None:
        depth = self.queue_depth()
        if depth + count > self.max_queued:
            raise busy(f"{depth} images are already waiting")

    def submit_tasks(self, tasks: list[RestyleTask], batch_id: str = "") -> list[Job]:
        self.check_capacity(len(tasks))
        # All or none (JobStore.submit_many): the results of a batch cut short would be nobody's.
        jobs = self.store.submit_many([Submission(partial(self.execute, task), work_pixels=task.work_pixels,
                                                  original=task.image if batch_id else None,
                                                  what="clip" if task.kind == "clip" else "image")
                                       for task in tasks])
        with self._lock:
            self._submitted.extend(jobs)
        return jobs

    def submit_task(self, task: RestyleTask) -> Job:
        return self.submit_tasks([task])[0]

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def count_by_state(self) -> dict[str, int]:
        return self.store.count_by_state()

    def expiries(self, job_ids: list[str]) -> dict[str, str]:
        return self.store.expiries(job_ids)

    def save_batch(self, batch_id: str, entries: list[dict]) -> None:
        with self._lock:
            now = time.monotonic()
            self._batches = {k: v for k, v in self._batches.items() if now - v[0] < self.ttl_s + 3600}
            self._batches[batch_id] = (now, entries)

    def load_batch(self, batch_id: str) -> list[dict] | None:
        with self._lock:
            found = self._batches.get(batch_id)
        return None if found is None else found[1]

    def shutdown(self) -> None:
        self.store.shutdown()


class RedisQueue(RedisJobStore):
    """The Redis store plus, when this gateway runs jobs too, its runner."""

    runner: JobRunner | None = None

    def shutdown(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        super().shutdown()


def executor(config, client, budget: PixelBudget | None = None):
    """The function that runs one task on this process's inference-server client (and pixel budget)."""

    def execute(task: RestyleTask, progress: Progress):
        if task.kind == "clip":
            return run_clip_task(task, client, config, progress, budget)
        return run_task(task, client, config.max_pixels, config.stylize_timeout_s, progress, budget)

    return execute


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Creates the app's queue from config.job_store; with Redis, starts this gateway's runner."""
    execute = executor(config, backend_of(app).client, pixel_budget_of(app))
    if config.job_store == "memory":
        # A pool of its own: a batch's photos wait here as files, not decoded pixels, so the bound is
        # max_queued_jobs rather than the single-image max_active_jobs.
        pool = JobStore(workers=max(1, config.job_workers), max_active=config.max_queued_jobs + 1,
                        ttl_s=config.job_ttl_s, budget=result_budget_of(app))
        queue = MemoryQueue(pool, execute, config.job_ttl_s,
                            config.max_queued_jobs)
    else:
        queue = RedisQueue(config.job_store, ttl_s=config.job_ttl_s, max_queued=config.max_queued_jobs,
                           claim_idle_s=config.claim_idle_s)
        if config.job_workers > 0:
            queue.runner = JobRunner(queue, execute, threads=config.job_workers)
            queue.runner.start()
    app.extensions[EXTENSION] = queue


def job_counts(app: Flask):
    """For bff.metrics: reads ({state: jobs}, queue depth) at scrape time; NaN depth while Redis is away."""

    def read() -> tuple[dict[str, int], float]:
        queue = job_queue_of(app)
        counts = dict(queue.count_by_state())
        for state, count in jobs.job_store_of(app).count_by_state().items():
            counts[state] = counts.get(state, 0) + count
        try:
            depth = float(queue.queue_depth())
        except redis.RedisError:
            depth = math.nan
        return counts, depth

    return read


def job_queue_of(app: Flask) -> MemoryQueue | RedisQueue:
    return app.extensions[EXTENSION]


def job_queue() -> MemoryQueue | RedisQueue:
    """The current app's task queue."""
    return job_queue_of(current_app)
