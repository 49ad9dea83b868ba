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
    store = JobStore(workers=1, max_active=2, ttl_s=60, clock=clock)
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


def test_finished_results_stay_until_they_expire_however_many_jobs_finish(store, clock):
    """The store kept only the newest 32 finished jobs, everyone's together: 34 small jobs by anyone made an
    earlier result 404 long before the expires_at its status had promised. Each now stays until then."""
    jobs = []
    for _ in range(34):
        jobs.append(store.submit(lambda progress: OUTCOME))
        finished(jobs[-1])
        clock.now += 1
    assert all(store.get(job.id) is job and job.outcome is OUTCOME for job in jobs)
    clock.now = jobs[0].finished_at + 60  # the first one's expires_at
    assert store.get(jobs[0].id) is jobs[0]
    clock.now += 0.5
    assert store.get(jobs[0].id) is None and store.get(jobs[1].id) is jobs[1]


def test_a_job_whose_result_would_not_fit_is_refused_until_the_oldest_result_expires(clock):
    """Memory is bounded by the bytes results keep, not by dropping someone's result: a job that would not
    fit beside them is refused up front with 429, Retry-After saying when the oldest kept one expires."""
    from bff.jobs import ResultBudget

    store = JobStore(workers=1, max_active=4, ttl_s=60, budget=ResultBudget(100), clock=clock)
    try:
        kept = store.submit(lambda progress: Outcome(b"x" * 40, "image/png", "a.png", 1, maps={"realism": b"r" * 20}))
        finished(kept)
        clock.now += 10
        with pytest.raises(ApiError) as err:
            store.submit(lambda progress: OUTCOME, result_bytes=41)  # 60 kept + 41 > 100
        assert (err.value.status, err.value.error, err.value.retry_after) == (429, "results_full", 50)
        assert err.value.message.endswith("until enough of them expire; try again in 50 seconds.")
        assert store.get(kept.id).outcome.data == b"x" * 40  # never dropped to make room
        batch = store.submit(lambda progress: OUTCOME, original=b"p" * 20)  # its photo and a result its size
        with pytest.raises(ApiError):
            store.check_capacity()  # 60 kept + 40 held for the batch photo: full before an upload is read
        finished(batch)
        clock.now += 51  # the first result expires
        assert store.get(kept.id) is None
        finished(store.submit(lambda progress: OUTCOME, result_bytes=70))
    finally:
        store.shutdown()


def test_a_result_larger_than_the_whole_budget_is_made_alone(clock):
    from bff.jobs import ResultBudget

    store = JobStore(workers=1, max_active=4, ttl_s=60, budget=ResultBudget(10), clock=clock)
    try:
        big = store.submit(lambda progress: Outcome(b"x" * 50, "image/png", "a.png", 1), result_bytes=50)
        finished(big)
        with pytest.raises(ApiError) as err:
            store.submit(lambda progress: OUTCOME)
        assert err.value.retry_after == 60
        store.delete(big.id)  # forgetting a result frees what it held
        finished(store.submit(lambda progress: OUTCOME))
    finally:
        store.shutdown()


def test_stores_sharing_a_budget_count_each_others_results(clock):
    """The gateway's two in-process stores (single jobs, batches) keep results within one budget."""
    from bff.jobs import ResultBudget

    budget = ResultBudget(100)
    first, second = (JobStore(workers=1, max_active=4, ttl_s=60, budget=budget, clock=clock) for _ in range(2))
    try:
        finished(first.submit(lambda progress: Outcome(b"x" * 80, "image/png", "a.png", 1)))
        with pytest.raises(ApiError):
            second.submit(lambda progress: OUTCOME, result_bytes=30)
        assert budget.used(clock()) == 80
    finally:
        first.shutdown()
        second.shutdown()


def test_deleting_a_finished_job_forgets_it_and_deleting_an_unfinished_one_cancels_it(store):
    """DELETE /api/jobs/<id> answered 204 for a finished job and changed nothing: it stayed done with its
    result. It now forgets a finished job (done or failed); an unfinished one is cancelled, not forgotten."""
    done = store.submit(lambda progress: OUTCOME)
    finished(done)
    store.delete(done.id)
    assert store.get(done.id) is None
    started, release = threading.Event(), threading.Event()

    def work(progress):
        started.set()
        while not release.wait(0.01):
            progress(1, 2)
        return OUTCOME

    running = store.submit(work)
    assert started.wait(5)
    store.delete(running.id)
    snap = finished(running)
    release.set()
    assert snap["error"] == "cancelled" and store.get(running.id) is running
    store.delete("never-existed")


def test_a_job_cancelled_after_its_last_progress_report_ends_cancelled(store):
    """A cancel that came after the work's last progress report left the job done, its result kept."""
    reported, cancelled = threading.Event(), threading.Event()

    def work(progress):
        progress(1, 1)
        reported.set()
        cancelled.wait(5)
        return OUTCOME

    job = store.submit(work)
    assert reported.wait(5)
    store.cancel(job.id)
    cancelled.set()
    assert finished(job)["error"] == "cancelled" and job.outcome is None


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


def test_a_batch_is_admitted_whole_or_refused_whole(clock):
    """A batch was checked as a whole and then admitted photo by photo: a batch that did not fit beside
    what was held (or lost a race to another request) had its first photos queued, orphaned, before the
    429. submit_many admits all under one lock, or none."""
    from bff.jobs import ResultBudget, Submission

    budget = ResultBudget(100)
    store = JobStore(workers=1, max_active=8, ttl_s=60, budget=budget, clock=clock)
    try:
        finished(store.submit(lambda progress: Outcome(b"x" * 30, "image/png", "a.png", 1)))
        with pytest.raises(ApiError) as err:  # 30 kept + 2 x (20 photo + 20 result) > 100
            store.submit_many([Submission(lambda progress: OUTCOME, original=b"p" * 20) for _ in range(2)])
        assert (err.value.status, err.value.error) == (429, "results_full")
        assert budget.used(clock()) == 30 and sum(store.count_by_state().values()) == 1
        jobs = store.submit_many([Submission(lambda progress: OUTCOME, original=b"p" * 10) for _ in range(2)])
        assert [finished(job)["state"] for job in jobs] == ["done", "done"]
    finally:
        store.shutdown()


def test_the_retry_after_of_a_full_budget_waits_until_enough_has_expired(clock):
    """Retry-After was the time until the oldest kept result expired, even when that freed too little
    for the job: it is now the time until enough will have expired (as the photo store's 429 says)."""
    from bff.jobs import ResultBudget

    store = JobStore(workers=1, max_active=8, ttl_s=60, budget=ResultBudget(100), clock=clock)
    try:
        for size in (10, 40, 40):
            finished(store.submit(lambda progress, size=size: Outcome(b"x" * size, "image/png", "a.png", 1)))
            clock.now += 10  # they expire at 1060, 1070 and 1080
        with pytest.raises(ApiError) as err:
            store.submit(lambda progress: OUTCOME, result_bytes=50)  # 90 + 50 - 100: 40 must go, not 10
        assert err.value.retry_after == 40  # now 1030; the second expires at 1070
        clock.now += 41
        finished(store.submit(lambda progress: OUTCOME, result_bytes=50))
    finally:
        store.shutdown()


def test_a_job_that_finishes_while_being_deleted_is_discarded(store, monkeypatch):
    """DELETE read the job unfinished, let go of the lock and cancelled it: a job that finished in
    between stayed done with its result, though DELETE had answered 204."""
    release = threading.Event()
    job = store.submit(lambda progress: release.wait(5) and OUTCOME)
    cancel = store.cancel

    def cancel_late(job_id):  # the job finishes done between delete's read and its cancel
        release.set()
        assert finished(job)["state"] == "done"
        cancel(job_id)

    monkeypatch.setattr(store, "cancel", cancel_late)
    store.delete(job.id)
    assert store.get(job.id) is None


def test_a_job_submitted_after_shutdown_is_refused_and_holds_nothing(clock):
    """The pool refused it after the job was recorded and admitted: it stayed queued forever, holding
    its share of the budget."""
    from bff.jobs import ResultBudget

    budget = ResultBudget(100)
    store = JobStore(workers=1, max_active=2, ttl_s=60, budget=budget, clock=clock)
    store.shutdown()
    with pytest.raises(ApiError) as err:
        store.submit(lambda progress: OUTCOME, result_bytes=50)
    assert (err.value.status, err.value.error) == (503, "shutting_down")
    assert budget.used(clock()) == 0 and store.count_by_state() == {}


def test_a_clip_cancelled_before_it_starts_says_clip(store):
    release = threading.Event()
    running = store.submit(lambda progress: release.wait(5) and OUTCOME)
    queued = store.submit(lambda progress: OUTCOME, what="clip")
    store.cancel(queued.id)
    release.set()
    finished(running)
    assert finished(queued)["message"] == "The request was cancelled before the clip was done."
