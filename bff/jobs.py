"""Background jobs in memory: a bounded worker pool, progress that others can wait on, and expiry.

A job is created by a request and then read by others (its progress stream, its result), so all its
fields change under one condition variable; readers wait for a new revision instead of polling.

A finished job is kept until its `expires_at`, never dropped earlier to make room: the memory results
take is bounded by a byte budget (ResultBudget) that refuses new jobs instead.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import Flask, current_app

from bff.config import GatewayConfig
from bff.errors import ApiError, busy, internal_error
from bff.expiring_bytes import room_at, whole_seconds
from bff.job_estimates import Throughput, WorkFacts, estimate_s, expires_at
from bff.job_state import FINISHED, JobState
from tessera.critic_maps import MAP_NAMES

log = logging.getLogger(__name__)

EXTENSION = "tessera_jobs"
BUDGET_EXTENSION = "tessera_result_budget"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Outcome:
    """What a finished job hands back: the encoded image and how to name it."""

    data: bytes
    mime_type: str
    filename: str
    version: int
    # PNG heat maps by name ("realism", "gradcam") when the order asked to explain (docs/explain.md).
    maps: dict[str, bytes] | None = None


@dataclass
class Job:
    """One unit of work; read its fields through snapshot() or wait(), which hold the lock."""

    id: str
    state: JobState = JobState.QUEUED
    done: int = 0
    total: int = 0
    outcome: Outcome | None = None
    error: ApiError | None = None
    finished_at: float | None = None
    revision: int = 0
    work: int = 0  # working pixels (bff.job_estimates); 0 when unknown
    # A batch's photo as uploaded, kept as long as the job, so a page that reloads shows its result over it.
    original: bytes | None = field(default=None, repr=False)
    started_at: float | None = None
    what: str = "image"  # what it makes, for its messages: "image" or "clip"
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def snapshot(self) -> dict:
        """The job's progress as a plain dict, for JSON and SSE."""
        with self._changed:
            return self._snapshot()

    def wait(self, after_revision: int, timeout: float) -> tuple[int, dict]:
        """Blocks until the revision differs from `after_revision` or `timeout` passes.

        Returns the (revision, snapshot) current at that moment."""
        with self._changed:
            self._changed.wait_for(lambda: self.revision != after_revision, timeout=timeout)
            return self.revision, self._snapshot()

    def wait_finished(self, timeout: float) -> dict:
        """Blocks until the job is done or failed, or `timeout` passes; returns its snapshot then."""
        with self._changed:
            self._changed.wait_for(lambda: self.finished_at is not None, timeout=timeout)
            return self._snapshot()

    def _snapshot(self) -> dict:
        snap = {"id": self.id, "state": self.state.value, "done": self.done, "total": self.total}
        if self.outcome is not None:
            snap["version"] = self.outcome.version
        if self.error is not None:
            snap.update(status=self.error.status, error=self.error.error, message=self.error.message)
        return snap

    def _update(self, **changes) -> None:
        with self._changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.revision += 1
            self._changed.notify_all()


def log_failed(job_id: str, error: ApiError) -> None:
    """One log line for a job that ended failed or cancelled, in either store: a success is logged by the
    restyle (bff.tasks); without this an operator saw no trace of lost work. WARNING for the gateway's or
    a server's fault (5xx), INFO for the rest (a cancel, a photo or request the server refused)."""
    level = logging.WARNING if error.status >= 500 else logging.INFO
    log.log(level, "job %s ended %s: %d %s: %s", job_id, "cancelled" if error.error == "cancelled" else "failed",
            error.status, error.error, error.message)


class JobCancelled(ApiError):
    """Raised inside a job's work, at its next progress report, once the job was cancelled."""

    def __init__(self, what: str = "image") -> None:
        super().__init__(499, "cancelled", f"The request was cancelled before the {what} was done.")


def result_estimate(upload_bytes: int, explain: bool = False) -> int:
    """Bytes a job's result is counted at in the budget for kept results until it is in: about its
    upload's (a restyled image or clip in its own format is about as large), and as much again for each
    heat map of an explained one (ResultBudget)."""
    return upload_bytes * (1 + (len(MAP_NAMES) if explain else 0))


def results_full(wait_s: int, making: bool) -> ApiError:
    """The 429 for a job (or batch) the budget for kept results cannot hold until `wait_s` from now. Its
    own code, not `busy`: retrying every few seconds cannot help before then (docs/gateway.md, Jobs)."""
    held = "Finished results and the images being made" if making else "Finished results"
    return ApiError(429, "results_full", f"{held} fill this gateway's memory for results until enough of them "
                                         f"expire; try again in {wait_s} seconds.", retry_after=wait_s)


class ResultBudget:
    """The bytes of results a process keeps (each job's image, heat maps and batch photo), shared by its
    job stores, by job id. A finished job holds what it keeps until it expires; an unfinished one holds
    an estimate until its result is in. New jobs are admitted only while their estimates fit beside them
    (or while nothing is held: a result, or a batch, larger than the whole budget is made alone)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._held: dict[str, tuple[int, float | None]] = {}  # job id -> (bytes, expiry on the store's clock)
        self._lock = threading.Lock()

    def admit(self, job_id: str, nbytes: int, now: float, ttl_s: float = 0.0) -> None:
        """Holds `nbytes` for an unfinished job (for none with job_id ""), or raises results_full (429)."""
        self.admit_many([(job_id, nbytes)], now, ttl_s)

    def admit_many(self, holds: list[tuple[str, int]], now: float, ttl_s: float = 0.0) -> None:
        """Holds each (job id, bytes) for unfinished jobs, all or none (a batch), or raises the 429
        results_full whose Retry-After is the time until enough kept results will have expired; an
        unfinished job's result counts as kept for `ttl_s` (its store's) after it ends, now at the soonest."""
        with self._lock:
            self._forget_expired(now)
            used = sum(held for held, _ in self._held.values())
            need = sum(max(1, nbytes) for _, nbytes in holds)
            if used and used + need > self.limit:
                holds = ((now + ttl_s if until is None else until, held) for held, until in self._held.values())
                wait = whole_seconds(room_at(holds, used + need - self.limit, now) - now)
                raise results_full(wait, any(until is None for _, until in self._held.values()))
            for job_id, nbytes in holds:
                if job_id:
                    self._held[job_id] = (nbytes, None)

    def hold(self, job_id: str, nbytes: int, until: float) -> None:
        """What a finished job keeps, until `until` (the store's clock), whatever the limit: it was admitted."""
        with self._lock:
            self._held[job_id] = (nbytes, until)

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def used(self, now: float) -> int:
        """Bytes held now (expired holds count as free: their stores forget them at their next sweep)."""
        with self._lock:
            self._forget_expired(now)
            return sum(held for held, _ in self._held.values())

    def _forget_expired(self, now: float) -> None:
        self._held = {i: h for i, h in self._held.items() if h[1] is None or h[1] >= now}


@dataclass(frozen=True)
class Submission:
    """One job for JobStore.submit_many, with submit's arguments."""

    work: Callable[[Progress], Outcome]
    work_pixels: int = 0
    original: bytes | None = field(default=None, repr=False)
    result_bytes: int = 0
    what: str = "image"  # or "clip": what a cancelled job says it was stopped before


class JobStore:
    """Runs jobs on `workers` threads, refuses more than `max_active` unfinished ones, forgets old ones.

    A finished job stays `ttl_s` seconds, its result with it (its `expires_at`), and never goes sooner
    unless deleted. What results take is bounded by `budget` (bytes, ResultBudget, maybe shared with the
    process's other store): a job it cannot hold is refused up front with 429.
    """

    def __init__(self, workers: int, max_active: int, ttl_s: float, budget: ResultBudget | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tessera-job")
        self._max_active = max_active
        self._ttl_s = ttl_s
        self._budget = budget or ResultBudget(GatewayConfig.max_result_bytes)
        self._clock = clock
        self._jobs: dict[str, Job] = {}  # in submission order
        self._workers = workers
        self.throughput = Throughput()
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()

    def check_capacity(self, kept_bytes: int = 0) -> None:
        """Raise the 429 that `submit` would, so a full gateway refuses before decoding an upload; with
        `kept_bytes`, also when jobs that keep that much (estimates, as submit counts them) would not fit."""
        with self._lock:
            self._sweep()
            self._refuse_when_full()
            self._budget.admit("", kept_bytes, self._clock(), self._ttl_s)

    def submit(self, work: Callable[[Progress], Outcome], work_pixels: int = 0, original: bytes | None = None,
               result_bytes: int = 0, what: str = "image") -> Job:
        """Queues `work`, which reports progress(done, total) and returns an Outcome or raises ApiError;
        `work_pixels` (the pixels the model will run on) feeds the time estimates; `original`, the photo
        of a batch, is kept with the job (Job.original); `result_bytes` estimates the result (with its
        maps) for the budget until it is in (0: as large as `original`); `what` ("image", "clip") is what
        its cancellation's message names."""
        return self.submit_many([Submission(work, work_pixels, original, result_bytes, what)])[0]

    def submit_many(self, submissions: list[Submission]) -> list[Job]:
        """Queues every submission (as submit does one) or none: a batch is admitted to the budget and the
        job limit as a whole, under one lock, so it is never queued in part. 429 when it does not fit, 503
        once the store is shut down."""
        with self._lock:
            self._sweep()
            self._refuse_when_full(len(submissions))
            # 128 random bits: ids double as the only credential for a job's result.
            jobs = [Job(id=secrets.token_urlsafe(16), work=s.work_pixels, original=s.original,
                        what=s.what) for s in submissions]
            holds = []
            for job, s in zip(jobs, submissions, strict=True):
                kept = len(s.original or b"")
                holds.append((job.id, kept + (s.result_bytes or kept)))
            self._budget.admit_many(holds, self._clock(), self._ttl_s)
            futures: dict[str, Future] = {}
            try:
                for job, s in zip(jobs, submissions, strict=True):
                    futures[job.id] = self._pool.submit(self._run, job, s.work)
            except RuntimeError:  # shut down: undo it all (a job already scheduled ends unseen, cancelled)
                for job in jobs:
                    job._cancelled.set()
                    self._budget.release(job.id)
                for future in futures.values():
                    future.cancel()
                raise ApiError(503, "shutting_down", "The gateway is restarting; please try again in a moment.",
                               retry_after=5) from None
            for job in jobs:
                self._jobs[job.id] = job
            self._futures.update(futures)
        return jobs

    def _refuse_when_full(self, count: int = 1) -> None:
        active = sum(1 for j in self._jobs.values() if j.finished_at is None)
        if active + count > self._max_active:
            raise busy(f"The gateway is already working on {active} images")

    def count_by_state(self) -> dict[str, int]:
        """How many jobs this store holds in each state (for metrics)."""
        with self._lock:
            jobs = list(self._jobs.values())
        counts: dict[str, int] = {}
        for job in jobs:
            state = job.snapshot()["state"]
            counts[state] = counts.get(state, 0) + 1
        return counts

    def queue_facts(self, job_id: str, snap: dict | None = None) -> dict:
        """Where the job waits and how long it may take: `queue_position` (1 = next to start; null unless
        queued), `eta_s` (seconds until done; null when unknown or ended) and, once finished, `expires_at`.

        They describe the job as `snap` (its snapshot; by default taken now) shows it, so a job shown
        queued has its place even if it started since the snapshot was taken."""
        with self._lock:
            jobs = list(self._jobs.values())
        now = self._clock()
        facts = {job.id: _work_facts(job, now) for job in jobs}
        job = next((j for j in jobs if j.id == job_id), None)
        if job is None:
            return {}
        mine = facts[job.id] if snap is None else _work_facts(job, now, snap)
        ahead = [facts[j.id] for j in jobs[:jobs.index(job)] if facts[j.id].state == JobState.QUEUED.value]
        running = [f for i, f in facts.items() if f.state == JobState.RUNNING.value and i != job.id]
        expires = self._expiry(job) if mine.state in FINISHED else None
        return {"queue_position": len(ahead) + 1 if mine.state == JobState.QUEUED.value else None,
                "eta_s": estimate_s(mine, ahead + running, self._workers, self.throughput.rate),
                "expires_at": expires}

    def expiries(self, job_ids: list[str]) -> dict[str, str]:
        """The `expires_at` of each of these jobs that has finished and is still kept, by id: what a
        batch's status says of its finished photos, read in one pass."""
        with self._lock:
            self._sweep()
            jobs = [self._jobs[job_id] for job_id in job_ids if job_id in self._jobs]
        return {job.id: expiry for job in jobs if (expiry := self._expiry(job)) is not None}

    def _expiry(self, job: Job) -> str | None:
        """When a finished job (its result, its error) is forgotten; None while it is unfinished."""
        finished_at = job.finished_at
        if finished_at is None:
            return None
        return expires_at(time.time() - (self._clock() - finished_at), self._ttl_s)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None if it never existed, has expired or was deleted."""
        with self._lock:
            self._sweep()
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> None:
        """Stops a job nobody waits for any more: a queued one never starts, a running one ends at its
        next progress report (about one tile's time), which cancels its gRPC calls. It ends FAILED with
        JobCancelled (also when its work returns meanwhile). A finished job is left as it is."""
        with self._lock:
            job = self._jobs.get(job_id)
            future = self._futures.pop(job_id, None)
        if job is None:
            return
        with job._changed:  # as _run ends a job: a job is either done before this or ends cancelled
            job._cancelled.set()
        if future is not None and future.cancel():
            self._end(job, state=JobState.FAILED, error=JobCancelled(job.what))

    def delete(self, job_id: str) -> None:
        """What DELETE /api/jobs/<id> does: a finished job is forgotten with its result (as discard), an
        unfinished one is cancelled (and then kept, failed, until it expires, for those who follow it)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.finished_at is not None:
                self._forget(job_id)
                return
        self.cancel(job_id)
        with self._lock:  # it may have finished done between the two locks: then it is discarded, as asked
            if job.state == JobState.DONE and self._jobs.get(job_id) is job:
                self._forget(job_id)

    def discard(self, job_id: str) -> None:
        """Forgets a job now (its result included); its worker, if still running, finishes unseen."""
        with self._lock:
            self._forget(job_id)

    def shutdown(self) -> None:
        """Stops taking work; queued jobs fail with 503 (so nobody waits for them forever), running
        ones finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            cancelled = [self._jobs[i] for i, f in self._futures.items() if f.cancelled() and i in self._jobs]
        for job in cancelled:
            self._end(job, state=JobState.FAILED, error=ApiError(
                503, "shutting_down", "The gateway is restarting; please try again in a moment.", retry_after=5))

    def _run(self, job: Job, work: Callable[[Progress], Outcome]) -> None:
        with self._lock:  # submit() holds the lock until the future is recorded
            self._futures.pop(job.id, None)  # running now: nothing left to cancel
        if job._cancelled.is_set():  # cancelled between being taken off the queue and starting
            self._end(job, state=JobState.FAILED, error=JobCancelled(job.what))
            return
        job._update(state=JobState.RUNNING, started_at=self._clock())

        def report(done: int, total: int) -> None:
            if job._cancelled.is_set():
                raise JobCancelled(job.what)  # unwinds the gRPC client, which cancels its streams
            job._update(done=done, total=total)

        try:
            outcome = work(report)
        except ApiError as err:
            self._end(job, state=JobState.FAILED, error=err)
        except Exception:
            log.exception("job %s failed", job.id)
            self._end(job, state=JobState.FAILED, error=internal_error())
        else:
            with job._changed:  # cancel() sets the flag under this lock: it comes before the end, or after it
                cancelled = job._cancelled.is_set()  # after its last progress report: cancelled is what was asked
                if cancelled:
                    self._end(job, state=JobState.FAILED, error=JobCancelled(job.what))
                else:
                    self._end(job, state=JobState.DONE, outcome=outcome, done=job.total)
            if not cancelled:
                self.throughput.record(job.work, job.finished_at - job.started_at)

    def _end(self, job: Job, **changes) -> None:
        """Finishes `job` with `changes`; what it keeps is held in the budget until it expires."""
        now = self._clock()
        job._update(finished_at=now, **changes)
        if job.error is not None:
            log_failed(job.id, job.error)
        outcome = job.outcome
        kept = len(job.original or b"")
        if outcome is not None:
            kept += len(outcome.data) + sum(len(png) for png in (outcome.maps or {}).values())
        with self._lock:
            if job.id in self._jobs:  # not discarded while it ran
                self._budget.hold(job.id, kept, now + self._ttl_s)

    def _forget(self, job_id: str) -> None:
        """Drops a job and what it holds in the budget; caller holds the lock."""
        self._jobs.pop(job_id, None)
        self._budget.release(job_id)

    def _sweep(self) -> None:
        """Drops the jobs whose results have expired (none sooner); caller holds the lock."""
        now = self._clock()
        expired = [job.id for job in self._jobs.values()
                   if job.finished_at is not None and now - job.finished_at > self._ttl_s]
        for job_id in expired:
            self._forget(job_id)


def _work_facts(job: Job, now: float, snap: dict | None = None) -> WorkFacts:
    snap = snap or job.snapshot()
    started = job.started_at
    return WorkFacts(state=snap["state"], work=job.work, done=snap["done"], total=snap["total"],
                     running_s=0.0 if started is None else now - started)


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Creates the app's JobStore from the config, and the process's budget for kept results, which the
    app's other in-process store (bff.job_queue's, for batches) may share (result_budget_of)."""
    budget = app.extensions[BUDGET_EXTENSION] = ResultBudget(config.max_result_bytes)
    # With Redis, job_workers may be 0 (jobs left to workers); synchronous /api/stylize still needs one.
    app.extensions[EXTENSION] = JobStore(workers=max(1, config.job_workers), max_active=config.max_active_jobs,
                                         ttl_s=config.job_ttl_s, budget=budget)


def result_budget_of(app: Flask) -> ResultBudget:
    """The bytes of results `app`'s process keeps, shared by its in-process job stores."""
    return app.extensions[BUDGET_EXTENSION]


def job_store_of(app: Flask) -> JobStore:
    """The JobStore of `app`."""
    return app.extensions[EXTENSION]


def job_store() -> JobStore:
    """The current app's JobStore."""
    return job_store_of(current_app)
