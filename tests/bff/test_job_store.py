"""bff.jobs.JobStore: bounded work, progress others can wait for, and results that expire."""

from __future__ import annotations

import threading

import pytest

from bff.errors import ApiError
from bff.job_state import FINISHED, UNFINISHED
from bff.jobs import JobState, JobStore, Outcome

OUTCOME = Outcome(data=b"img", mime_type="image/png", filename="a.png", version=3)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    store = JobStore(workers=1, max_active=2, ttl_s=60, max_kept=3, clock=clock)
    yield store
    store.shutdown()


def finished(job) -> dict:
    snap = job.wait_finished(timeout=5)
    assert snap["state"] in ("done", "failed"), snap
    return snap


def test_a_job_reports_progress_then_its_outcome(store):
    def work(progress):
        for done in range(1, 4):
            progress(done, 3)
        return OUTCOME

    job = store.submit(work)
    assert finished(job) == {"id": job.id, "state": "done", "done": 3, "total": 3, "version": 3}
    assert store.get(job.id).outcome is OUTCOME


def test_ids_are_long_random_and_distinct(store):
    ids = {store.submit(lambda progress: OUTCOME).id for _ in range(2)}
    assert len(ids) == 2 and all(len(i) >= 22 for i in ids)


@pytest.mark.parametrize("error, status", [
    (ApiError(503, "unavailable", "The inference servers cannot be reached."), 503),
    (RuntimeError("a bug"), 500),
])
def test_a_failing_job_keeps_a_readable_error(store, error, status):
    def work(progress):
        raise error

    snap = finished(store.submit(work))
    assert snap["state"] == "failed" and snap["status"] == status and snap["message"]
    assert "a bug" not in snap["message"]  # internals go to the log, not to the client


def test_too_many_unfinished_jobs_are_refused_with_429(store):
    release = threading.Event()
    blocked = [store.submit(lambda progress: release.wait(5) and OUTCOME) for _ in range(2)]
    with pytest.raises(ApiError) as err:
        store.submit(lambda progress: OUTCOME)
    assert err.value.status == 429 and err.value.retry_after
    # The wait the sentence asks for is the one Retry-After says (it said "a minute" against 30 s).
    assert err.value.message.endswith(f"try again in {err.value.retry_after} seconds.")
    with pytest.raises(ApiError, match="already working on 2 images"):
        store.check_capacity()  # what routes ask before they decode an upload
    release.set()
    assert [finished(job)["state"] for job in blocked] == ["done", "done"]
    assert store.submit(lambda progress: OUTCOME)  # room again once they finished


def test_finished_jobs_expire_after_the_ttl(store, clock):
    job = store.submit(lambda progress: OUTCOME)
    finished(job)
    clock.now += 59
    assert store.get(job.id) is job
    clock.now += 2
    assert store.get(job.id) is None


def test_only_the_newest_finished_jobs_are_kept(store, clock):
    jobs = []
    for _ in range(4):
        jobs.append(store.submit(lambda progress: OUTCOME))
        finished(jobs[-1])
        clock.now += 1
    assert store.get(jobs[0].id) is None
    assert all(store.get(job.id) is job for job in jobs[1:])


def test_waiting_returns_at_once_when_the_job_already_changed(store):
    job = store.submit(lambda progress: OUTCOME)
    finished(job)
    revision, snap = job.wait(after_revision=0, timeout=5)
    assert revision > 0 and snap["state"] == JobState.DONE


def test_queued_jobs_fail_with_503_when_the_gateway_shuts_down(clock):
    store = JobStore(workers=1, max_active=3, ttl_s=60, clock=clock)
    release = threading.Event()
    running = store.submit(lambda progress: release.wait(5) and OUTCOME)
    assert running.wait(after_revision=0, timeout=5)[1]["state"] == "running"
    queued = store.submit(lambda progress: OUTCOME)
    store.shutdown()
    assert finished(queued)["status"] == 503
    release.set()
    assert finished(running)["state"] == "done"


def test_a_cancelled_queued_job_never_runs(store):
    release, ran = threading.Event(), threading.Event()
    running = store.submit(lambda progress: release.wait(5) and OUTCOME)
    queued = store.submit(lambda progress: ran.set() or OUTCOME)
    store.cancel(queued.id)
    release.set()
    assert finished(running)["state"] == "done"
    assert finished(queued)["error"] == "cancelled" and not ran.is_set()


def test_a_cancelled_running_job_stops_at_its_next_progress_report(store):
    started, reports = threading.Event(), []

    def work(progress):
        for done in range(1, 1000):
            started.set()
            progress(done, 999)
            reports.append(done)
            threading.Event().wait(0.01)
        return OUTCOME

    job = store.submit(work)
    assert started.wait(5)
    store.cancel(job.id)
    snap = finished(job)
    assert snap["state"] == "failed" and snap["error"] == "cancelled" and len(reports) < 999


def test_every_state_is_either_finished_or_unfinished():
    """The stores, estimates and APIs all ask one of these two; a state in neither would never end."""
    assert FINISHED | UNFINISHED == set(JobState) and not FINISHED & UNFINISHED
    assert "done" in FINISHED and "queued" in UNFINISHED  # states read back from JSON or Redis as str


def test_a_finished_or_failed_job_has_no_time_left(store):
    """A job that failed part way still said how long it would take (its work left at the measured rate);
    a done one said 0. Neither has time left: eta_s is null, and neither has a place in the queue."""
    store.throughput.record(1_000_000, 2.0)  # a rate, measured on an earlier job

    def fails_half_way(progress):
        progress(1, 4)
        raise ApiError(503, "unavailable", "The inference servers cannot be reached.")

    failed = store.submit(fails_half_way, work_pixels=1_000_000)
    done = store.submit(lambda progress: progress(4, 4) or OUTCOME, work_pixels=1_000_000)
    for job, state in ((failed, "failed"), (done, "done")):
        assert finished(job)["state"] == state
        facts = store.queue_facts(job.id)
        assert facts["eta_s"] is None and facts["queue_position"] is None, (state, facts)


def test_a_queued_job_has_a_place_as_its_snapshot_shows_it(store):
    """A job's state and its place are read at two moments; one that started in between was answered
    as "queued" with queue_position null. Its place is counted for the snapshot it is shown with."""
    release = threading.Event()
    running = store.submit(lambda progress: release.wait(5) and OUTCOME)
    assert running.wait(after_revision=0, timeout=5)[1]["state"] == "running"
    queued = store.submit(lambda progress: OUTCOME)
    snap = queued.snapshot()
    assert snap["state"] == "queued"
    release.set()
    finished(queued)  # it ran meanwhile
    assert store.queue_facts(queued.id, snap)["queue_position"] == 1


def test_a_batch_reads_the_expiry_of_its_finished_jobs_at_once_as_each_status_says_it(store, clock):
    """What a batch's status says of its photos' results: when each finished one is forgotten, as its
    own status does, and nothing for one still running or one already forgotten."""
    release = threading.Event()
    done = store.submit(lambda progress: OUTCOME)
    finished(done)
    running = store.submit(lambda progress: release.wait(5) and OUTCOME)
    expiries = store.expiries([done.id, running.id, "forgotten"])
    release.set()
    assert expiries == {done.id: store.queue_facts(done.id)["expires_at"]}
    clock.now += 61
    assert store.expiries([done.id]) == {}


def test_a_batch_on_the_in_process_queue_measures_the_rate_and_gets_estimates(store, clock):
    """A batch's photos carry their working pixels as single jobs do: each finished one feeds the
    rate, and one queued behind another gets a time estimate (they had none: 0 working pixels)."""
    from bff.job_queue import MemoryQueue
    from bff.tasks import RestyleTask

    release = threading.Event()

    def execute(task, progress):
        release.wait(5)
        clock.now += 2.0  # each photo takes 2 s of the store's clock
        return OUTCOME

    queue = MemoryQueue(store, execute, ttl_s=60, max_queued=8)
    tasks = [RestyleTask(style="s", strength=1.0, format="png", filename=f"{n}.png", image=b"photo",
                         work_pixels=1_000_000) for n in range(3)]
    (first,) = queue.submit_tasks(tasks[:1], batch_id="b")
    release.set()
    finished(first)
    assert store.throughput.rate == pytest.approx(500_000)
    release.clear()
    running, queued = queue.submit_tasks(tasks[1:], batch_id="b")
    assert running.wait(after_revision=0, timeout=5)[1]["state"] == "running"
    facts = store.queue_facts(queued.id)
    release.set()
    # Its own 2 s and the 2 s of the one running ahead (no progress yet), at 500,000 pixels a second.
    assert facts["queue_position"] == 1 and facts["eta_s"] == pytest.approx(4.0), facts
    finished(queued)
