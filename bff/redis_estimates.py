"""Queue places and time estimates for jobs in Redis (bff.job_estimates does the arithmetic).

A job's place is counted from the queue stream: entries are deleted once their job is finished, so
the entries before a job's own are the jobs queued or running ahead of it, and the consumer group's
pending list says which of those run. The rate (working pixels per second) lives in `<p>:throughput`,
a running average every runner updates when it finishes a job; read-modify-write races between
runners only blur an estimate. How many runners share the queue is read from the consumer group.
"""

from __future__ import annotations

import time

import redis

from bff.job_estimates import WorkFacts, estimate_s, expires_at, mix_rate
from bff.job_state import FINISHED, JobState

GROUP = "workers"
# Most queue entries read to find a job's place (the queue is bounded by --max-queued-jobs anyway).
MAX_SCAN = 1000
# A consumer that has not read the queue for this long is not counted as a worker.
IDLE_CONSUMER_MS = 60_000


def record(store, work: int, seconds: float) -> None:
    """Mixes one finished job's rate into the shared average (raises redis.RedisError)."""
    if work <= 0 or seconds <= 0:
        return
    key = f"{store.prefix}:throughput"
    old = store.redis.hget(key, "rate")
    store.redis.hset(key, "rate", repr(mix_rate(None if old is None else float(old), work / seconds)))


def queue_facts(store, job_id: str, snap: dict | None = None) -> dict:
    """The job's `queue_position` (null unless queued), `eta_s` (null when unknown or ended), `expires_at`,
    for the job as `snap` (its snapshot; by default read now) shows it: a job shown queued has its place
    even if a runner took it since."""
    fields = _fields(store, job_id)
    if fields is None:
        return {}
    if snap is not None:
        fields.update({name: str(snap[name]) for name in ("state", "done", "total")})
    rate = store.redis.hget(f"{store.prefix}:throughput", "rate")
    rate = None if rate is None else float(rate)
    mine = _facts(fields)
    expires = None
    if fields.get("finished") and mine.state in FINISHED:
        expires = expires_at(float(fields["finished"]), store.ttl_s)
    if mine.state != JobState.QUEUED:
        return {"queue_position": None, "eta_s": estimate_s(mine, [], 1, rate), "expires_at": expires}
    ahead = _ahead(store, job_id)
    waiting = sum(1 for other in ahead if other.state == JobState.QUEUED)
    return {"queue_position": waiting + 1, "eta_s": estimate_s(mine, ahead, _workers(store), rate),
            "expires_at": expires}


def _fields(store, job_id: str) -> dict[str, str] | None:
    raw = store.redis.hmget(store._job(job_id), "state", "work", "done", "total", "started", "finished")
    if raw[0] is None:
        return None
    names = ("state", "work", "done", "total", "started", "finished")
    return {name: value.decode() for name, value in zip(names, raw, strict=True) if value is not None}


def _facts(fields: dict[str, str]) -> WorkFacts:
    started = float(fields["started"]) if fields.get("started") else None
    return WorkFacts(state=fields["state"], work=int(fields.get("work") or 0), done=int(fields.get("done") or 0),
                     total=int(fields.get("total") or 0),
                     running_s=0.0 if started is None else max(0.0, time.time() - started))


def _ahead(store, job_id: str) -> list[WorkFacts]:
    """The jobs whose queue entries come before this job's (queued or running)."""
    ahead = []
    for _, entry in store.redis.xrange(store.queue, count=MAX_SCAN):
        other = entry.get(b"job", b"").decode()
        if other == job_id:
            return ahead
        fields = _fields(store, other)
        if fields is not None:
            ahead.append(_facts(fields))
    return ahead


def _workers(store) -> int:
    """Consumers of the queue that read it within the last minute (at least 1)."""
    try:
        consumers = store.redis.xinfo_consumers(store.queue, GROUP)
    except redis.ResponseError:  # no group yet
        return 1
    return max(1, sum(1 for c in consumers if int(c.get("idle", 0)) < IDLE_CONSUMER_MS))
