"""Consumes the Redis job queue: claims jobs, runs them, reports progress, stores results.

Gateway replicas run one in the background (unless told not to) and `python -m bff.worker` runs one
alone; both read the same consumer group, so a job goes to whichever has a free thread. A heartbeat
keeps this consumer's running jobs from being reclaimed; when it stops (the process died), another
consumer's reaper takes them over after the store's `claim_idle_s`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

import redis

from bff.errors import ApiError, internal_error
from bff.jobs import JobCancelled, Outcome, Progress, log_failed
from bff.redis_jobs import Claim, RedisJobStore
from bff.tasks import RestyleTask
from tessera.tile_streams import STALLED

log = logging.getLogger(__name__)

Execute = Callable[[RestyleTask, Progress], Outcome]
# How long a finished job's result may wait for Redis to come back before the runner gives up on it;
# the entry then stays pending and another consumer runs the job again once Redis is back.
FINISH_RETRY_S = 120.0
BLOCK_S = 1.0
# Progress is published by one thread at most this often per job, never by the thread gathering
# tiles: a slow or restarting Redis must not slow the image down.
PROGRESS_INTERVAL_S = 0.1
# A job whose inference servers cannot be reached, or are full, runs again after a pause that doubles
# from FIRST_PAUSE_S up to MAX_PAUSE_S, until SERVER_WAIT_S have passed: a job kept in Redis outlives a
# restart of the inference servers, as it outlives a gateway's. Until 2026-12-04 it failed at once, and
# every queued job with it (a new user's trial). Refusals no retry can change (a bad photo) fail at once,
# and so does a server that took the job and then stopped answering (the stall timeout, docs/gateway.md):
# waiting another stall timeout on it would only double the wait for the same answer.
SERVER_WAIT_S = 120.0
FIRST_PAUSE_S, MAX_PAUSE_S = 1.0, 10.0
RETRIABLE_ERRORS = frozenset({"unavailable", "busy"})  # bff.errors: UNAVAILABLE and RESOURCE_EXHAUSTED


class _Stopping(Exception):
    """The runner stopped while a job waited for its inference servers: the job is neither failed nor
    acknowledged, so its entry stays pending and another consumer takes it over (claim_idle_s)."""


def _worth_retrying(err: ApiError) -> bool:
    return err.error in RETRIABLE_ERRORS and not err.message.startswith(STALLED)


def consumer_name() -> str:
    """Unique per process: host, pid and a random tail (a restarted pid must not inherit old entries)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class JobRunner:
    """`threads` loops that each run one job at a time, plus one heartbeat loop."""

    def __init__(self, store: RedisJobStore, execute: Execute, threads: int, consumer: str | None = None):
        self.store = store
        self.execute = execute
        self.threads = threads
        self.consumer = consumer or consumer_name()
        self.heartbeat_s = max(0.05, store.claim_idle_ms / 1000 / 4)
        self._running: dict[str, Claim] = {}
        self._latest: dict[str, tuple[Claim, int, int]] = {}  # latest unpublished, by queue entry
        # Tiles of each running entry's image: its finish records them, also when a small image ends
        # before the publishing thread got to its progress (its status said 0 of 0 tiles).
        self._totals: dict[str, int] = {}
        self._cancelled: set[str] = set()  # queue entries whose jobs someone cancelled (DELETE /api/jobs/ID)
        self._progress_changed = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.threads):
            self._spawn(self._loop, f"tessera-runner-{index}")
        self._spawn(self._heartbeat_loop, "tessera-heartbeat")
        self._spawn(self._publish_loop, "tessera-progress")
        log.info("job runner %s: %d threads, heartbeat every %.1f s", self.consumer, self.threads,
                 self.heartbeat_s)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._workers.append(thread)

    def stop(self, grace_s: float = 10.0) -> None:
        """Stops claiming; running jobs get `grace_s` to finish, the rest are reclaimed by others later."""
        self._stop.set()
        deadline = time.monotonic() + grace_s
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                claim = self.store.claim(self.consumer, BLOCK_S)
                failures = 0
            except redis.RedisError as err:
                failures += 1
                log.warning("job queue unreachable (%s); retrying", err)
                self._stop.wait(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            if claim is not None:
                self._run(claim)

    def _run(self, claim: Claim) -> None:
        with self._lock:
            self._running[claim.message_id] = claim
        started = time.monotonic()
        try:
            outcome, error = self._outcome(claim)
            if outcome is None and error is None:  # stopped while it waited: another consumer runs it
                log.info("job %s left pending for another consumer: this one stops", claim.job_id)
                return
            # Cancelled after its last progress report: cancelled is what was asked, as in memory. Seen here,
            # the result is not even sent; a cancel later still is the FINISH script's to see (store.finish).
            if outcome is not None and self._cancelled_since(claim):
                outcome, error = None, JobCancelled(claim.what)
            if outcome is not None and claim.task is not None:
                self._record_throughput(claim.task.work_pixels, time.monotonic() - started)
            finished = self._finish(claim, outcome, error)
        finally:
            with self._lock:
                self._running.pop(claim.message_id, None)
                self._totals.pop(claim.message_id, None)
        # Only the owner acknowledges: a lost entry is pending under the consumer that took it over.
        if finished:
            self._retrying(lambda: self.store.ack(claim.message_id), "acknowledge")

    def _record_throughput(self, work: int, seconds: float) -> None:
        try:
            self.store.record_throughput(work, seconds)
        except redis.RedisError:
            pass  # an estimate is advisory: the result is what must get through

    def _outcome(self, claim: Claim) -> tuple[Outcome | None, ApiError | None]:
        if claim.task is None:
            return None, ApiError(410, "input_expired", "The photo expired before it could be restyled; "
                                                        "please upload it again.")
        if claim.attempt > 1:
            log.info("job %s: attempt %d (its previous runner stopped)", claim.job_id, claim.attempt)
        try:
            if self._cancelled_before_start(claim):
                raise JobCancelled(claim.what)
            return self._execute_when_served(claim), None
        except _Stopping:
            return None, None
        except ApiError as err:
            return None, err
        except Exception:
            log.exception("job %s failed", claim.job_id)
            return None, internal_error()

    def _execute_when_served(self, claim: Claim) -> Outcome:
        """The claim's task run, and run again while the inference servers cannot take it (see
        SERVER_WAIT_S); the last refusal is raised once the wait is over, _Stopping when the runner
        stops meanwhile, JobCancelled when the job is cancelled meanwhile."""
        give_up_at, pause = time.monotonic() + SERVER_WAIT_S, FIRST_PAUSE_S
        while True:
            try:
                return self.execute(claim.task, lambda done, total: self._progress(claim, done, total))
            except ApiError as err:
                if not _worth_retrying(err) or time.monotonic() + pause > give_up_at:
                    raise
                log.warning("job %s: %s Trying again in %.0f s.", claim.job_id, err.message, pause)
                if self._stop.wait(pause):
                    raise _Stopping() from err
                if self._cancelled_before_start(claim):
                    raise JobCancelled(claim.what) from None
                pause = min(MAX_PAUSE_S, 2 * pause)

    def _cancelled_since(self, claim: Claim) -> bool:
        """Whether the job was cancelled while its work ran (seen by the publishing thread, or in Redis)."""
        with self._lock:
            if claim.message_id in self._cancelled:
                self._cancelled.discard(claim.message_id)
                return True
        return self._cancelled_before_start(claim)

    def _cancelled_before_start(self, claim: Claim) -> bool:
        try:
            return self.store.cancelled(claim.job_id)
        except redis.RedisError:
            return False  # cannot tell: run it; a cancel is advisory

    def _progress(self, claim: Claim, done: int, total: int) -> None:
        with self._lock:
            if claim.message_id in self._cancelled:
                self._cancelled.discard(claim.message_id)
                raise JobCancelled(claim.what)  # unwinds the gRPC client, which cancels its streams
            self._latest[claim.message_id] = (claim, done, total)
            self._totals[claim.message_id] = total
        self._progress_changed.set()

    def _publish_loop(self) -> None:
        unreachable = False
        while not self._stop.is_set():
            self._progress_changed.wait(1.0)
            self._progress_changed.clear()
            with self._lock:
                pending, self._latest = self._latest, {}
            for claim, done, total in pending.values():
                try:
                    self.store.progress(claim, done, total)
                    if self.store.cancelled(claim.job_id):
                        with self._lock:
                            self._cancelled.add(claim.message_id)
                    unreachable = False
                except redis.RedisError as err:  # advisory: the result is what must get through
                    if not unreachable:
                        log.warning("progress not recorded while the job store is unreachable (%s)", err)
                    unreachable = True
            self._stop.wait(PROGRESS_INTERVAL_S)

    def _finish(self, claim: Claim, outcome: Outcome | None, error: ApiError | None) -> bool | None:
        """Writes the result; True when written, False when another consumer owns the job now, None when
        Redis stayed unreachable (the entry stays pending and is run again later)."""
        if outcome is not None:
            with self._lock:
                total = self._totals.get(claim.message_id, 0)
            written = self._retrying(lambda: self.store.finish(claim, outcome, total), "store the result of")
        else:
            written = self._retrying(lambda: self.store.fail(claim, error), "record the failure of")
            if written:
                log_failed(claim.job_id, error)
        if written is False:
            log.warning("job %s was taken over by another consumer; dropping this result", claim.job_id)
        return written

    def _retrying(self, action: Callable[[], object], what: str):
        deadline = time.monotonic() + FINISH_RETRY_S
        delay = 0.1
        while True:
            try:
                return action()
            except redis.RedisError as err:
                if time.monotonic() > deadline:
                    log.error("could not %s a job for %.0f s (%s); leaving it to be run again", what,
                              FINISH_RETRY_S, err)
                    return None
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    def _heartbeat_loop(self) -> None:
        failing = False
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                ids = list(self._running)
            try:
                lost = self.store.heartbeat(self.consumer, ids)
                failing = False
            except redis.RedisError as err:
                if not failing:
                    log.warning("heartbeat failed (%s); running jobs go on", err)
                failing = True
                continue
            for message_id in lost:
                log.warning("queue entry %s was reclaimed by another consumer", message_id)
