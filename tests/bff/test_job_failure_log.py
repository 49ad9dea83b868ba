"""A job that ends failed or cancelled leaves one line in the gateway's log, in either store: only a
success was logged (bff.tasks' "restyled ..."), so an operator could not see work that was lost."""

from __future__ import annotations

import logging
import threading
import time

from bff.errors import ApiError
from bff.job_runner import JobRunner
from bff.jobs import JobStore
from bff.redis_jobs import RedisJobStore
from bff.tasks import RestyleTask

TASK = RestyleTask(style="tiny-sepia", strength=0.5, format="png", filename="a.png", image=b"\x89PNG...")
REFUSED = ApiError(422, "unreadable_image", "That image is damaged past its header and cannot be read.")


def _finished(job, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while job.snapshot()["state"] not in {"done", "failed"}:
        assert time.monotonic() < deadline, job.snapshot()
        time.sleep(0.02)
    return job.snapshot()


def test_the_memory_store_logs_a_failed_and_a_cancelled_job(caplog):
    store = JobStore(workers=1, max_active=4, ttl_s=60)
    started, release = threading.Event(), threading.Event()

    def refused(progress):
        raise REFUSED

    def slow(progress):
        started.set()
        release.wait(10)
        progress(1, 2)  # its next report after the cancel stops it
        raise AssertionError("not reached")

    try:
        with caplog.at_level(logging.INFO, logger="bff.jobs"):
            failed = store.submit(refused)
            assert _finished(failed)["error"] == "unreadable_image"
            cancelled = store.submit(slow)
            assert started.wait(10)
            store.cancel(cancelled.id)
            release.set()
            assert _finished(cancelled)["error"] == "cancelled"
    finally:
        store.shutdown()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bff.jobs"]
    assert ("INFO", f"job {failed.id} ended failed: 422 unreadable_image: {REFUSED.message}") in lines
    assert ("INFO", f"job {cancelled.id} ended cancelled: 499 cancelled: The request was cancelled before the "
                    "image was done.") in lines


def test_a_runner_on_redis_logs_a_failed_job_as_a_warning_for_a_server_fault(redis_server, redis_client, caplog):
    store = RedisJobStore(redis_server.url, ttl_s=60, max_queued=3)
    broken = ApiError(500, "internal", "Something went wrong on the server; please try again.")

    def fails(task, progress):
        raise broken

    job = store.submit_task(TASK)
    runner = JobRunner(store, fails, threads=1)
    try:
        with caplog.at_level(logging.INFO, logger="bff.jobs"):
            runner.start()
            assert _finished(job)["error"] == "internal"
            deadline = time.monotonic() + 5
            while not any(job.id in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        runner.stop(grace_s=2)
        store.shutdown()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bff.jobs"]
    assert ("WARNING", f"job {job.id} ended failed: 500 internal: {broken.message}") in lines
