"""How long a job will take and where it waits: its place in the queue and a time estimate from the
throughput this gateway (or, with Redis, every runner) measured on the jobs it finished.

Work is counted in *working pixels*: the pixels the model runs on (width x height x brush scale²),
which is what the time of a restyle follows. A running job's estimate comes from its own progress
(seconds so far per tile done); a queued job's from the work ahead of it, shared by the workers, plus
its own, at the measured rate. Until a job has finished there is no rate, and a queued job's
estimate is null. A job that has ended (done or failed) has no time left: null, not 0.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bff.job_state import UNFINISHED, JobState

# Weight of the newest job in the running average of the rate.
SMOOTHING = 0.3


@dataclass(frozen=True)
class WorkFacts:
    """What an estimate needs of one job."""

    state: str  # a JobState value
    work: int  # working pixels; 0 when unknown
    done: int = 0  # tiles done
    total: int = 0  # tiles in all; 0 until known
    running_s: float = 0.0  # seconds since it started running


class Throughput:
    """Working pixels per second, a running average over finished jobs (None before the first)."""

    def __init__(self) -> None:
        self._rate: float | None = None
        self._lock = threading.Lock()

    def record(self, work: int, seconds: float) -> None:
        if work <= 0 or seconds <= 0:
            return
        with self._lock:
            self._rate = mix_rate(self._rate, work / seconds)

    @property
    def rate(self) -> float | None:
        with self._lock:
            return self._rate


def mix_rate(old: float | None, new: float) -> float:
    """The running average after one more measured rate."""
    return new if old is None else (1 - SMOOTHING) * old + SMOOTHING * new


def remaining_s(job: WorkFacts, rate: float | None) -> float | None:
    """Seconds until `job` (running or queued, counted alone) is done; None when nothing tells, and for
    a job that has ended (a failed one's work left will never be done)."""
    if job.state not in UNFINISHED:
        return None
    if job.state == JobState.RUNNING and job.done > 0 and job.total > 0:
        return job.running_s * (job.total - job.done) / job.done
    if rate and job.work:
        share = 1 - job.done / job.total if job.total else 1.0
        return job.work * share / rate
    return None


def estimate_s(job: WorkFacts, ahead: list[WorkFacts], workers: int, rate: float | None) -> float | None:
    """Seconds until `job` is done: its own remaining time, plus for a queued job the remaining time of
    the jobs ahead of it (running ones included) shared by `workers`. None when it cannot be told."""
    own = remaining_s(job, rate)
    if own is None or job.state != JobState.QUEUED:
        return None if own is None else round(own, 1)
    waits = [remaining_s(other, rate) for other in ahead]
    if any(w is None for w in waits):
        return None
    return round(own + sum(waits) / max(1, workers), 1)


def expires_at(finished_at: float, ttl_s: float) -> str:
    """When a job that finished at `finished_at` (Unix time) is forgotten, its result with it: the
    `expires_at` of its status and of its photo in a batch's, ISO 8601. Every store says it through this."""
    return iso_time(finished_at + ttl_s)


def iso_time(unix_time: float) -> str:
    """Unix time -> '2026-11-30T15:00:00Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_time))
