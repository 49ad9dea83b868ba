"""Cancelling with the Redis job store, on a real redis-server: a job cancelled at any moment before it
is finished ends cancelled, as in the memory store, and a batch is cancelled by either of its routes."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from bff import close_app
from bff.job_queue import job_queue_of
from bff.jobs import Outcome
from bff.redis_jobs import RedisJobStore
from bff.tasks import RestyleTask
from tests.bff.live import make_app
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

TASK = RestyleTask(style="tiny-sepia", strength=0.5, format="png", filename="a-tiny-sepia.png", image=b"\x89PNG...")
OUTCOME = Outcome(data=b"result", mime_type="image/png", filename="a-tiny-sepia.png", version=2,
                  maps={"realism": b"r", "gradcam": b"g"})


@pytest.fixture
def redis_url(redis_server, redis_client) -> str:
    """The module's redis-server (tests/bff/conftest.py), emptied for this test."""
    return redis_server.url


@pytest.mark.parametrize("kind, what", [("image", "image"), ("clip", "clip")])
def test_a_job_cancelled_after_the_runners_last_look_ends_cancelled_not_done(redis_url, kind, what):
    """The runner looks at the cancel flag once its work returns, then finishes the job: a cancel landing
    between the two ended the job done, its result kept. The memory store decides under one lock; the
    Redis one now decides in the FINISH script, the flag read in the same atomic step."""
    store = RedisJobStore(redis_url, ttl_s=60, max_queued=3)
    try:
        job = store.submit_task(replace(TASK, kind=kind))
        claim = store.claim("c1", block_s=0.5)
        store.progress(claim, 1, 2)
        assert not store.cancelled(job.id)  # the runner's last look (bff.job_runner._cancelled_since)
        store.cancel(job.id)  # POST /api/jobs/<id>/cancel arrives now
        assert store.finish(claim, OUTCOME, total=2)
        snap = job.snapshot()
        assert snap == {"id": job.id, "state": "failed", "done": 1, "total": 2, "status": 499, "error": "cancelled",
                        "message": f"The request was cancelled before the {what} was done."}
        keys = store._keys(job.id)
        assert not store.redis.exists(keys.result) and not store.redis.exists(keys.input)
        assert not [field for field in store.redis.hkeys(keys.hash) if field.startswith(b"map:")]
        assert job.outcome is None and job.error.status == 499
        (_, last), = store.redis.xrevrange(keys.events, count=1)
        assert last[b"event"] == b"error"
    finally:
        store.shutdown()


def test_a_job_finished_before_the_cancel_stays_done_with_its_result(redis_url):
    store = RedisJobStore(redis_url, ttl_s=60, max_queued=3)
    try:
        job = store.submit_task(TASK)
        assert store.finish(store.claim("c1", block_s=0.5), OUTCOME)
        store.cancel(job.id)
        assert job.snapshot()["state"] == "done" and job.outcome == OUTCOME
    finally:
        store.shutdown()


@pytest.mark.parametrize("method, suffix", [("delete", ""), ("post", "/cancel")])
def test_a_batch_is_cancelled_by_delete_or_post_cancel_with_redis(inference_server, redis_url, method, suffix):
    """POST /api/batches/<id>/cancel was a 404 (only DELETE cancelled a batch), while a job has both."""
    app = make_app(servers=(inference_server,), job_store=redis_url, job_workers=0)  # jobs stay queued
    try:
        client = app.test_client()
        images = [(io.BytesIO(encoded(gradient(), "PNG")), f"p{i}.png") for i in range(2)]
        created = client.post("/api/batches", data={"style": TINY_STYLE, "images": images})
        assert created.status_code == 202, created.json
        answer = client.open(created.json["status_url"] + suffix, method=method.upper())
        assert answer.status_code == 204, answer.json
        queue = job_queue_of(app)
        assert all(queue.cancelled(photo["id"]) for photo in created.json["photos"])
        missing = client.open(f"/api/batches/nope{suffix}", method=method.upper())
        assert (missing.status_code, missing.json["error"]) == (404, "unknown_batch")
    finally:
        close_app(app)
