"""bff.redis_jobs.RedisJobStore on a real redis-server (one per module, flushed before each test): the
queue, ownership, progress events, results and expiry, in this one process. tests/bff/test_replicas.py
runs it across gateway and worker processes."""

from __future__ import annotations

import calendar
import time

import pytest

from bff.errors import ApiError
from bff.jobs import Outcome
from bff.redis_jobs import RedisJobStore
from bff.tasks import RestyleTask
from tests.support.redis_server import RedisServer, running_redis

TASK = RestyleTask(style="tiny-sepia", strength=0.5, format="png", filename="a-tiny-sepia.png", image=b"\x89PNG...")
OUTCOME = Outcome(data=b"result", mime_type="image/png", filename="a-tiny-sepia.png", version=2)

@pytest.fixture
def server(redis_server, redis_client) -> RedisServer:
    """The module's redis-server with an empty database; every store a test makes on it shares it."""
    return redis_server


@pytest.fixture
def make_store(server):
    """Makes stores on the test's server (settings overridden by keyword), closed when the test ends."""
    opened: list[RedisJobStore] = []

    def make(**overrides) -> RedisJobStore:
        settings = {"ttl_s": 60, "max_queued": 3, "claim_idle_s": 0.2, **overrides}
        opened.append(RedisJobStore(server.url, **settings))
        return opened[-1]

    yield make
    for store in opened:
        store.shutdown()


@pytest.fixture
def store(make_store):
    return make_store()


def test_a_task_round_trips_through_the_queue(store):
    job = store.submit_task(TASK)
    assert job.snapshot() == {"id": job.id, "state": "queued", "done": 0, "total": 0}
    claim = store.claim("c1", block_s=0.1)
    assert claim.job_id == job.id and claim.attempt == 1 and claim.task == TASK
    assert store.progress(claim, 1, 4) and job.snapshot()["done"] == 1
    assert store.finish(claim, OUTCOME)
    store.ack(claim.message_id)
    assert job.snapshot() == {"id": job.id, "state": "done", "done": 4, "total": 4, "version": 2}
    assert job.outcome == OUTCOME and job.error is None
    assert store.queue_depth() == 0 and store.claim("c1", block_s=0.05) is None


def test_another_store_on_the_same_redis_sees_the_job(store, make_store):
    job = store.submit_task(TASK)
    other = make_store()
    assert other.get(job.id).snapshot()["state"] == "queued"
    assert other.get("no-such-job") is None


def test_events_replay_from_any_event_id(store):
    job = store.submit_task(TASK)
    first_id, snap = job.wait(None, timeout=0)
    claim = store.claim("c1", block_s=0.1)
    for done in (1, 2):
        store.progress(claim, done, 2)
    store.finish(claim, OUTCOME)
    # A client that saw only the first event resumes from its id and gets the newest state at once.
    resumed_id, resumed = job.wait(first_id, timeout=1)
    assert resumed_id > first_id and resumed["state"] == "done"
    # One that already saw the last event waits, then hears nothing new.
    started = time.monotonic()
    assert job.wait(resumed_id, timeout=0.2) == (resumed_id, resumed)
    assert time.monotonic() - started >= 0.15


def test_a_failure_keeps_its_status_and_message(store):
    job = store.submit_task(TASK)
    claim = store.claim("c1", block_s=0.1)
    assert store.fail(claim, ApiError(422, "undecodable_image", "The image is damaged.", retry_after=None))
    assert job.snapshot()["status"] == 422 and job.snapshot()["message"] == "The image is damaged."
    error = job.error
    assert (error.status, error.error, error.message) == (422, "undecodable_image", "The image is damaged.")
    assert job.outcome is None


def test_a_stale_entry_is_reclaimed_and_only_the_new_owner_finishes(store):
    job = store.submit_task(TASK)
    first = store.claim("dead", block_s=0.1)
    time.sleep(0.3)  # past claim_idle_s with no heartbeat
    second = store.claim("alive", block_s=0.1)
    assert second.job_id == job.id and second.attempt == 2
    assert store.heartbeat("dead", [first.message_id]) == [first.message_id]  # it learns it lost the job
    assert not store.progress(first, 3, 4)
    assert not store.finish(first, Outcome(b"stale", "image/png", "x.png", 1))
    assert store.finish(second, OUTCOME)
    assert job.outcome.data == b"result"
    assert not store.fail(first, ApiError(500, "internal_error", "late"))  # a finished job stays finished
    assert job.snapshot()["state"] == "done"


def test_a_heartbeat_keeps_a_running_entry_from_being_reclaimed(store):
    store.submit_task(TASK)
    claim = store.claim("busy", block_s=0.1)
    for _ in range(4):
        time.sleep(0.1)
        assert store.heartbeat("busy", [claim.message_id]) == []
    assert store.claim("other", block_s=0.05) is None


def test_the_queue_refuses_work_beyond_its_bound(store):
    store.submit_tasks([TASK, TASK])
    with pytest.raises(ApiError) as err:
        store.submit_tasks([TASK, TASK])  # all or none
    assert err.value.status == 429 and err.value.retry_after
    assert store.queue_depth() == 2
    store.submit_task(TASK)


def test_a_finished_job_expires_after_the_ttl(make_store):
    store = make_store(ttl_s=1)
    job = store.submit_task(TASK)
    claim = store.claim("c1", block_s=0.1)
    store.finish(claim, OUTCOME)
    assert 0 < store.redis.ttl(f"tessera:job:{job.id}:result") <= 1
    assert store.redis.ttl(f"tessera:job:{job.id}") <= 1
    assert not store.redis.exists(f"tessera:job:{job.id}:input")  # the upload is dropped at once


def test_a_batch_photo_stays_as_uploaded_as_long_as_its_result(make_store):
    """A page reloaded after a batch had no photo to show each result over: the upload was dropped when
    its job finished. A batch's photo now expires with its result (an ordinary job's still goes at once)."""
    store = make_store(ttl_s=5)
    job = store.submit_tasks([TASK], batch_id="batch")[0]
    store.finish(store.claim("c1", block_s=0.1), OUTCOME)
    assert job.original == TASK.image
    assert 0 < store.redis.ttl(f"tessera:job:{job.id}:input") <= 5


def test_a_batch_reads_the_expiry_of_its_finished_jobs_at_once_as_each_status_says_it(store):
    done, queued = store.submit_tasks([TASK, TASK])
    claim = store.claim("c1", block_s=0.1)
    store.finish(claim, OUTCOME)
    assert store.expiries([done.id, queued.id, "forgotten"]) == {done.id: store.queue_facts(done.id)["expires_at"]}


def test_a_job_whose_input_expired_is_claimed_without_a_task(store):
    job = store.submit_task(TASK)
    store.redis.delete(f"tessera:job:{job.id}:input")
    assert store.claim("c1", block_s=0.1).task is None


def test_an_entry_for_an_expired_job_is_dropped(store):
    job = store.submit_task(TASK)
    store.discard(job.id)
    assert store.claim("c1", block_s=0.1) is None
    assert store.queue_depth() == 0


def test_an_unreachable_redis_is_a_503():
    store = RedisJobStore("redis://127.0.0.1:1/0", ttl_s=60, max_queued=3)
    with pytest.raises(ApiError) as err:
        store.submit_task(TASK)
    assert err.value.status == 503 and "job store" in err.value.message


def test_queued_and_running_jobs_survive_kill_9_of_a_real_redis(tmp_path):
    with running_redis(tmp_path) as server:
        store = RedisJobStore(server.url, ttl_s=60, max_queued=30, claim_idle_s=0.2)
        jobs = store.submit_tasks([TASK] * 20)
        running = store.claim("dead", block_s=0.5)
        server.kill()
        with pytest.raises(ApiError) as err:
            jobs[0].snapshot()
        assert err.value.status == 503
        server.start()  # same port, same append-only file
        assert [job.snapshot()["state"] for job in jobs].count("queued") == 19
        time.sleep(0.3)
        reclaimed = store.claim("alive", block_s=0.5)
        assert reclaimed.job_id == running.job_id and reclaimed.attempt == 2 and reclaimed.task == TASK
        store.shutdown()


def test_the_look_travels_with_the_task(store):
    from tessera.style_sources import StyleSource

    look = RestyleTask(style="any-painting", strength=1.0, format="jpeg", filename="a.jpg", image=b"photo",
                       sources=(StyleSource(image=b"\x89PNG painting", weight=0.25), StyleSource(preset="starry",
                                                                                                weight=0.75)),
                       keep_colors=True)
    store.submit_task(look)
    assert store.claim("c1", block_s=0.1).task == look


def test_queued_jobs_know_their_place_and_an_estimate_once_a_rate_is_measured(store):
    tasks = [RestyleTask(style="tiny-sepia", strength=1, format="png", filename="a.png", image=b"x",
                         work_pixels=1_000_000) for _ in range(3)]
    first, second, third = store.submit_tasks(tasks)
    assert store.queue_facts(third.id) == {"queue_position": 3, "eta_s": None, "expires_at": None}
    claim = store.claim("c1", block_s=0.1)
    assert claim.job_id == first.id
    assert store.queue_facts(second.id)["queue_position"] == 1
    store.record_throughput(1_000_000, 2.0)  # 0.5 MP/s measured on a finished job
    facts = store.queue_facts(third.id)
    # Its own 2 s, plus the running job's 2 s (no tile done yet) and the queued job's 2 s, on one runner.
    assert facts["queue_position"] == 2 and facts["eta_s"] == pytest.approx(6.0, abs=0.05)
    store.finish(claim, OUTCOME)
    finished = store.queue_facts(first.id)
    assert finished["queue_position"] is None and finished["expires_at"].endswith("Z")


def test_a_finished_or_failed_job_has_no_time_left(store):
    """A job that failed part way still said how long it would take (its work left at the measured
    rate); a done one said 0. Neither has time left: eta_s is null."""
    tasks = [RestyleTask(style="tiny-sepia", strength=1, format="png", filename="a.png", image=b"x",
                         work_pixels=1_000_000) for _ in range(2)]
    failing, finishing = store.submit_tasks(tasks)
    store.record_throughput(1_000_000, 2.0)
    claim = store.claim("c1", block_s=0.1)
    store.progress(claim, 1, 4)
    store.fail(claim, ApiError(503, "unavailable", "The inference servers cannot be reached."))
    store.ack(claim.message_id)
    claim = store.claim("c1", block_s=0.1)
    store.finish(claim, OUTCOME)
    for job in (failing, finishing):
        facts = store.queue_facts(job.id)
        assert facts["eta_s"] is None and facts["queue_position"] is None, (job.snapshot(), facts)


def test_a_queued_job_has_a_place_as_its_snapshot_shows_it(store):
    """A job's state and its place are read at two moments; one claimed in between was answered as
    "queued" with queue_position null. Its place is counted for the snapshot it is shown with."""
    job = store.submit_task(TASK)
    snap = job.snapshot()
    store.claim("c1", block_s=0.1)  # a runner takes it meanwhile
    assert job.snapshot()["state"] == "running"
    assert store.queue_facts(job.id, snap)["queue_position"] == 1


def test_a_job_that_ends_before_its_progress_was_published_still_says_how_many_tiles(store):
    """The runner publishes progress from another thread at most every 0.1 s: a small image could end
    first, and its finished status said 0 of 0 tiles (a new user's trial saw it on a 512 px photo).
    The runner hands the last count to finish."""
    from bff.job_runner import JobRunner

    def execute(task, progress):
        progress(1, 2)
        progress(2, 2)
        return OUTCOME

    job = store.submit_task(TASK)
    runner = JobRunner(store, execute, threads=1)
    runner._publish_loop = lambda: None  # the publishing thread never gets to it: the worst case
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while job.snapshot()["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.snapshot() == {"id": job.id, "state": "done", "done": 2, "total": 2, "version": 2}
    finally:
        runner.stop(grace_s=2)
    claim = store.claim("c1", block_s=0.05)
    assert claim is None
    other = store.submit_task(TASK)
    claim = store.claim("c1", block_s=0.1)
    assert store.finish(claim, OUTCOME, total=7)  # no progress recorded at all: the count given wins
    assert other.snapshot() == {"id": other.id, "state": "done", "done": 7, "total": 7, "version": 2}


def _run_until(job, states, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while job.snapshot()["state"] not in states and time.monotonic() < deadline:
        time.sleep(0.02)
    return job.snapshot()


def test_a_job_waiting_for_its_servers_when_its_runner_stops_is_left_to_another(store, monkeypatch, make_store):
    """A runner stopping (a rolling deploy) while its job waited for the inference servers failed the
    job for good with 'unavailable' (a review found it); the job is now left pending, and another
    consumer runs it once its claim has been idle for claim_idle_s."""
    from bff import job_runner

    monkeypatch.setattr(job_runner, "FIRST_PAUSE_S", 0.2)
    calls = []

    def unreachable(task, progress):
        calls.append(time.monotonic())
        raise ApiError(503, "unavailable", "The inference servers cannot be reached right now; try again shortly.")

    job = store.submit_task(TASK)
    first = job_runner.JobRunner(store, unreachable, threads=1, consumer="first")
    first.start()
    deadline = time.monotonic() + 10
    while len(calls) < 2 and time.monotonic() < deadline:  # refused, waited, refused again
        time.sleep(0.02)
    first.stop(grace_s=5)
    assert len(calls) >= 2 and job.snapshot()["state"] == "running"
    second = job_runner.JobRunner(make_store(), lambda task, progress: OUTCOME, threads=1, consumer="second")
    second.start()
    try:
        assert _run_until(job, {"done", "failed"})["state"] == "done"
    finally:
        second.stop(grace_s=2)


def test_a_server_that_stopped_answering_is_not_waited_for_again(store):
    """A stall (the server took the job and went silent for the stall timeout) fails the job at once, as
    docs/gateway.md says: another stall timeout on the same server would only double the wait."""
    from bff import job_runner
    from tessera.tile_streams import StalledError

    calls = []

    def stalled(task, progress):
        calls.append(1)
        raise ApiError(503, "unavailable", str(StalledError(60)))

    job = store.submit_task(TASK)
    runner = job_runner.JobRunner(store, stalled, threads=1)
    runner.start()
    try:
        snap = _run_until(job, {"done", "failed"}, timeout=5)
        assert snap["state"] == "failed" and snap["error"] == "unavailable" and calls == [1]
    finally:
        runner.stop(grace_s=2)


def test_deleting_a_finished_job_forgets_it_with_its_result_and_an_unfinished_one_is_cancelled(make_store):
    """DELETE /api/jobs/<id> of a finished job answered 204 and left it done with its result; it now
    forgets it (result, maps, photo, events). An unfinished job is cancelled, as before."""
    store = make_store(max_queued=5)
    done, failed, queued = store.submit_tasks([TASK] * 3, batch_id="b")
    store.finish(store.claim("c1", block_s=0.1), Outcome(b"result", "image/png", "a.png", 2,
                                                          maps={"realism": b"r", "gradcam": b"g"}))
    store.fail(store.claim("c1", block_s=0.1), ApiError(422, "undecodable_image", "The image is damaged."))
    for job in (done, failed, queued):
        store.delete(job.id)
    assert store.get(done.id) is None and store.get(failed.id) is None
    assert not [key for key in store.redis.keys(f"tessera:job:{done.id}*")]
    assert queued.snapshot()["state"] == "queued" and store.cancelled(queued.id)
    store.delete("never-existed")
    store.cancel("never-existed")
    assert not store.redis.exists("tessera:job:never-existed")  # no flag left on a key that never expires


def test_finished_results_stay_until_their_expires_at_however_many_finish(make_store):
    """What the memory store broke (it kept only the newest 32 finished jobs), Redis already kept: every
    finished job's keys live by their TTL alone, at least until the expires_at its status gives."""
    store = make_store(max_queued=40, ttl_s=900)
    jobs = store.submit_tasks([TASK] * 34, batch_id="b")
    for _ in jobs:
        claim = store.claim("c1", block_s=0.1)
        store.finish(claim, OUTCOME)
        store.ack(claim.message_id)
    assert all(job.outcome == OUTCOME and job.original == TASK.image for job in jobs)
    expires = calendar.timegm(time.strptime(store.queue_facts(jobs[0].id)["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    for key in ("", ":result", ":input", ":events"):
        lives_s = store.redis.pttl(f"tessera:job:{jobs[0].id}{key}") / 1000
        assert lives_s >= expires - time.time() > 890, key


def test_a_job_cancelled_after_its_last_progress_report_ends_cancelled_as_in_memory(store):
    """The memory store ends such a job cancelled; the Redis runner ended it done, its result kept."""
    import threading

    from bff.job_runner import JobRunner

    reported, go_on = threading.Event(), threading.Event()

    def execute(task, progress):
        progress(1, 1)
        reported.set()
        go_on.wait(5)
        return OUTCOME

    job = store.submit_task(TASK)
    runner = JobRunner(store, execute, threads=1)
    runner.start()
    try:
        assert reported.wait(5)
        store.cancel(job.id)
        go_on.set()
        snap = _run_until(job, {"done", "failed"})
        assert (snap["state"], snap["error"]) == ("failed", "cancelled"), snap
        assert job.outcome is None
    finally:
        runner.stop(grace_s=2)


def test_a_clip_cancelled_before_it_starts_says_clip(store):
    """It said "before the image was done" for a clip (bff.clips words it for a clip it stops)."""
    from dataclasses import replace

    from bff.job_runner import JobRunner

    job = store.submit_task(replace(TASK, kind="clip", format="mp4"))
    store.cancel(job.id)
    runner = JobRunner(store, lambda task, progress: OUTCOME, threads=1)
    runner.start()
    try:
        snap = _run_until(job, {"done", "failed"})
        assert snap["message"] == "The request was cancelled before the clip was done.", snap
    finally:
        runner.stop(grace_s=2)
