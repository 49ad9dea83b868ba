"""Jobs in Redis, shared by every gateway replica and worker (`--job-store redis://HOST:PORT/N`).

Layout under a key prefix (default `tessera`):
- `<p>:queue`, a stream with the consumer group `workers`: one entry per job to run. A consumer
  reads it with XREADGROUP and acknowledges (XACK, then XDEL) once the job is finished. An entry
  whose consumer died stays pending; after `claim_idle_s` without a heartbeat any other consumer
  takes it over with XAUTOCLAIM and runs the job again (tiles are idempotent).
- `<p>:job:<id>`, a hash with the job's state, progress and options (and, for a job asked to explain,
  its critic's heat maps as PNG bytes, fields `map:realism` and `map:gradcam`); `<p>:job:<id>:input`, the
  uploaded file (dropped when the job finishes, but a batch's photo is kept as long as its result);
  `<p>:job:<id>:result`, the encoded result; `<p>:job:<id>:events`, a stream of progress events whose
  entry ids are the SSE ids, so any replica can replay from Last-Event-ID.
- `<p>:batch:<id>`, a hash listing a batch's jobs.
A finished job's keys expire `ttl_s` after it finished; unfinished ones after `pending_ttl_s`.

Results are kept in Redis rather than in a shared directory: it is the one stateful service the
replicas already share, EXPIRE gives them the same lifetime as their job without a sweeper, and no
writable volume has to be mounted by every node. The price is memory: budget results x TTL.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import redis

from bff import redis_estimates, redis_scripts
from bff.errors import ApiError, busy
from bff.job_estimates import expires_at
from bff.job_state import FINISHED, JobState
from bff.jobs import JobCancelled, Outcome
from bff.tasks import RestyleTask, error_fields, error_from_fields
from tessera.critic_maps import MAP_NAMES

log = logging.getLogger(__name__)

GROUP = "workers"
_MAP_FIELD = "map:"  # a critic map's PNG in the job's hash: map:realism, map:gradcam (tessera.critic_maps)
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def unavailable() -> ApiError:
    """The 503 for a job store that cannot be reached."""
    return ApiError(503, "job_store_unavailable", "The job store cannot be reached right now; "
                                                  "try again in a moment.", retry_after=5)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turns a Redis outage into the 503 a client can act on."""
    try:
        yield
    except redis.RedisError as err:
        log.warning("job store error: %s", err)
        raise unavailable() from None


class JobKeys(NamedTuple):
    """A job's Redis keys, in the order the Lua scripts (bff/redis_scripts.py) take them as KEYS."""

    hash: str  # its fields (state, options, progress, timings, error)
    events: str  # its event stream
    result: str  # the restyled image's bytes
    input: str  # the uploaded photo's (or clip's) bytes

    @property
    def snapshot_pair(self) -> tuple[str, str]:
        """(hash, events): the KEYS of the READ, START and PROGRESS scripts."""
        return self.hash, self.events


@dataclass(frozen=True)
class Claim:
    """A job this consumer now runs: its queue entry, id, attempt number (1 on first run) and task."""

    message_id: str
    job_id: str
    attempt: int
    owner: str
    task: RestyleTask | None  # None when the job's input expired before it ran

    @property
    def what(self) -> str:
        """What the job makes, as a cancelled job's message names it: "clip" or "image"."""
        return "clip" if self.task is not None and self.task.kind == "clip" else "image"


class RedisJobStore:
    """The producer side (submit, read, follow) and the consumer side (claim, progress, finish) of jobs.

    Every method talks to Redis; the producer side raises ApiError 503 when Redis is unreachable, the
    consumer side raises redis.RedisError for the runner to retry.
    """

    def __init__(self, url: str, ttl_s: float, max_queued: int, claim_idle_s: float = 30.0,
                 pending_ttl_s: float = 24 * 3600, prefix: str = "tessera", client: redis.Redis | None = None):
        # The socket timeout bounds a dead connection; blocking reads stay well below it.
        self.redis = client or redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10,
                                                    health_check_interval=10)
        self.ttl_s = int(max(1, ttl_s))
        self.pending_ttl_s = int(max(self.ttl_s, pending_ttl_s))
        self.max_queued = max_queued
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.prefix = prefix
        self.queue = f"{prefix}:queue"
        self._scripts = {name: self.redis.register_script(getattr(redis_scripts, name))
                         for name in ("READ", "START", "PROGRESS", "FINISH", "HEARTBEAT")}

    # --- keys -------------------------------------------------------------------------------------------
    def _job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _keys(self, job_id: str) -> JobKeys:
        base = self._job(job_id)
        return JobKeys(base, f"{base}:events", f"{base}:result", f"{base}:input")

    # --- producer side ------------------------------------------------------------------------------------
    def ensure_group(self) -> None:
        """Creates the queue and its consumer group if missing (id 0: entries added before count too)."""
        try:
            self.redis.xgroup_create(self.queue, GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def queue_depth(self) -> int:
        """Jobs queued or running (entries are deleted from the queue once acknowledged)."""
        return int(self.redis.xlen(self.queue))

    def count_by_state(self) -> dict[str, int]:
        """Queued and running jobs across every consumer (finished ones are not counted)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.queue)
        pipe.xpending(self.queue, GROUP)
        try:
            depth, pending = pipe.execute()
        except redis.RedisError:  # Redis away, or no queue yet: no figures rather than a failed scrape
            return {}
        running = int(pending["pending"])
        return {JobState.QUEUED.value: max(0, int(depth) - running), JobState.RUNNING.value: running}

    def check_capacity(self, count: int = 1) -> None:
        """Raises 429 when `count` more jobs would exceed `max_queued`, 503 when Redis is down."""
        with _store_errors():
            depth = self.queue_depth()
        if depth + count > self.max_queued:
            raise busy(f"{depth} images are already waiting")

    def submit_task(self, task: RestyleTask, batch_id: str = "") -> RedisJob:
        """Queues one task; returns its handle. Raises ApiError 429 or 503."""
        return self.submit_tasks([task], batch_id)[0]

    def submit_tasks(self, tasks: list[RestyleTask], batch_id: str = "") -> list[RedisJob]:
        """Queues several tasks in one transaction (all or none); returns their handles."""
        self.check_capacity(len(tasks))
        ids = [secrets.token_urlsafe(16) for _ in tasks]  # 128 random bits: the only credential
        now = str(time.time())
        with _store_errors():
            self.ensure_group()
            pipe = self.redis.pipeline(transaction=True)
            for job_id, task in zip(ids, tasks, strict=True):
                job, events, _, input_key = self._keys(job_id)
                pipe.hset(job, mapping={"state": JobState.QUEUED.value, "done": 0, "total": 0, "attempts": 0,
                                        "owner": "", "options": task.options_json(), "created": now,
                                        "batch": batch_id, "work": task.work_pixels})
                pipe.set(input_key, task.image, ex=self.pending_ttl_s)
                snap = json.dumps({"id": job_id, "state": JobState.QUEUED.value, "done": 0, "total": 0})
                pipe.xadd(events, {"event": "progress", "data": snap}, maxlen=200, approximate=True)
                for key in (job, events):
                    pipe.expire(key, self.pending_ttl_s)
                pipe.xadd(self.queue, {"job": job_id})
            pipe.execute()
        return [RedisJob(self, job_id) for job_id in ids]

    def queue_facts(self, job_id: str, snap: dict | None = None) -> dict:
        """`queue_position`, `eta_s` and `expires_at` of a job as `snap` shows it (bff.redis_estimates);
        503 when Redis is down."""
        with _store_errors():
            return redis_estimates.queue_facts(self, job_id, snap)

    def expiries(self, job_ids: list[str]) -> dict[str, str]:
        """The `expires_at` of each of these jobs that has finished, by id, in one round trip (a batch's
        status); 503 when Redis is down."""
        if not job_ids:
            return {}
        with _store_errors():
            pipe = self.redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hget(self._job(job_id), "finished")
            finished = pipe.execute()
        return {job_id: expires_at(float(at), self.ttl_s)
                for job_id, at in zip(job_ids, finished, strict=True) if at is not None}

    def record_throughput(self, work: int, seconds: float) -> None:
        """Adds one finished job's working pixels per second to the shared rate (consumer side)."""
        redis_estimates.record(self, work, seconds)

    def save_batch(self, batch_id: str, entries: list[dict]) -> None:
        """Records a batch: `entries` are {"job": id, "name": photo name, "file": its result's name} in upload
        order, then its skipped zip entries, {"name": path in the zip, "reason": a sentence}."""
        key = f"{self.prefix}:batch:{batch_id}"
        with _store_errors():
            self.redis.set(key, json.dumps(entries), ex=self.pending_ttl_s)

    def load_batch(self, batch_id: str) -> list[dict] | None:
        """The entries save_batch stored, or None when the batch is unknown or expired."""
        with _store_errors():
            raw = self.redis.get(f"{self.prefix}:batch:{batch_id}")
        return None if raw is None else json.loads(raw)

    def get(self, job_id: str) -> RedisJob | None:
        """The job's handle, or None if it never existed or has expired."""
        with _store_errors():
            exists = self.redis.exists(self._job(job_id))
        return RedisJob(self, job_id) if exists else None

    def read(self, job_id: str) -> dict | None:
        """The job's snapshot ({id, state, done, total[, version][, status, error, message]})."""
        raw = self._scripts["READ"](keys=self._keys(job_id).snapshot_pair, args=[job_id])
        return None if raw is None else json.loads(raw)

    def cancel(self, job_id: str) -> None:
        """Asks the job's runner to stop: a queued job fails as cancelled when claimed, a running one at
        its next progress report (bff.job_runner). A finished (or gone) job is left as it is. 503 when
        Redis is down."""
        self._finished_or(job_id, lambda pipe: pipe.hset(self._job(job_id), "cancelled", "1"), lambda pipe: None)

    def delete(self, job_id: str) -> None:
        """What DELETE /api/jobs/<id> does: a finished job is forgotten with its result, maps and photo
        (as discard), an unfinished one is cancelled (as cancel). 503 when Redis is down."""
        self._finished_or(job_id, lambda pipe: pipe.hset(self._job(job_id), "cancelled", "1"),
                          lambda pipe: pipe.delete(*self._keys(job_id)))

    def _finished_or(self, job_id: str, unfinished, finished) -> None:
        """Runs `unfinished(pipe)` or `finished(pipe)` in one transaction, by the job's state as it is then
        (WATCH: a job that finishes meanwhile is read again); nothing for a job that is gone (a flag
        written to it would create a key that never expires)."""
        key = self._job(job_id)

        def act(pipe) -> None:
            state = pipe.hget(key, "state")
            if state is None:
                return
            pipe.multi()
            (finished if _text(state) in FINISHED else unfinished)(pipe)

        with _store_errors():
            self.redis.transaction(act, key)

    def cancelled(self, job_id: str) -> bool:
        """Whether someone asked to cancel the job (consumer side: raises redis.RedisError)."""
        return bool(self.redis.hexists(self._job(job_id), "cancelled"))

    def discard(self, job_id: str) -> None:
        """Forgets a job now; a consumer still running it finds it gone and drops its result."""
        with _store_errors():
            self.redis.delete(*self._keys(job_id))

    def shutdown(self) -> None:
        self.redis.close()

    # --- consumer side ------------------------------------------------------------------------------------
    def claim(self, consumer: str, block_s: float) -> Claim | None:
        """The next job for `consumer`: first one a dead consumer left pending for `claim_idle_s`, else a
        new one (waiting up to `block_s`). None when there is nothing to run."""
        try:
            message = self._reclaim_one(consumer) or self._read_new(consumer, block_s)
        except redis.ResponseError as err:
            if "NOGROUP" not in str(err):
                raise
            self.ensure_group()  # a fresh Redis (or one restarted without its files): start the queue again
            return None
        if message is None:
            return None
        message_id, fields = _text(message[0]), message[1]
        return self._start(consumer, message_id, _text(fields.get(b"job", b"")))

    def _read_new(self, consumer: str, block_s: float):
        reply = self.redis.xreadgroup(GROUP, consumer, {self.queue: ">"}, count=1, block=max(1, int(block_s * 1000)))
        return reply[0][1][0] if reply else None

    def _reclaim_one(self, consumer: str):
        reply = self.redis.xautoclaim(self.queue, GROUP, consumer, self.claim_idle_ms, start_id="0-0", count=1)
        claimed, deleted = reply[1], reply[2] if len(reply) > 2 else []
        if deleted:  # entries trimmed from the stream while pending: nothing left to run
            self.redis.xack(self.queue, GROUP, *deleted)
        if claimed:
            log.warning("reclaimed job entry %s from a consumer that stopped answering", _text(claimed[0][0]))
            return claimed[0]
        return None

    def _start(self, consumer: str, message_id: str, job_id: str) -> Claim | None:
        owner = f"{consumer}/{message_id}/{secrets.token_hex(4)}"
        status, attempt = self._scripts["START"](keys=self._keys(job_id).snapshot_pair,
                                                 args=[job_id, owner, time.time()])
        if _text(status) != "ok":  # expired, or finished by a consumer that was only slow
            self.ack(message_id)
            return None
        options, image = self.redis.hmget(self._job(job_id), "options")[0], self.redis.get(self._keys(job_id).input)
        task = RestyleTask.from_parts(options, image) if options is not None and image is not None else None
        return Claim(message_id=message_id, job_id=job_id, attempt=int(attempt), owner=owner, task=task)

    def progress(self, claim: Claim, done: int, total: int) -> bool:
        """Records progress; False when `claim` no longer owns the job."""
        return bool(self._scripts["PROGRESS"](keys=self._keys(claim.job_id).snapshot_pair,
                                              args=[claim.job_id, claim.owner, done, total]))

    def finish(self, claim: Claim, outcome: Outcome, total: int = 0) -> bool:
        """Stores the result (and its critic maps, as fields of the job's hash) and marks the job done,
        `total` of `total` tiles when given (0: as last recorded). A job cancelled meanwhile, however late,
        ends failed with JobCancelled instead and keeps nothing (the FINISH script decides, atomically).
        True when written either way; False (nothing written) when the claim lost the job."""
        finished = time.time()
        fields = {"version": outcome.version, "mime_type": outcome.mime_type, "filename": outcome.filename,
                  "finished": finished, **{_MAP_FIELD + name: png for name, png in (outcome.maps or {}).items()},
                  **({"total": total} if total else {})}
        cancelled = {**error_fields(JobCancelled(claim.what)), "finished": finished}
        return self._finish(claim, JobState.DONE.value, outcome.data, fields, cancelled)

    def fail(self, claim: Claim, error: ApiError) -> bool:
        """Marks the job failed with `error`; False when the claim lost the job."""
        return self._finish(claim, JobState.FAILED.value, b"", {**error_fields(error), "finished": time.time()})

    def _finish(self, claim: Claim, state: str, data: bytes, fields: dict, if_cancelled: dict | None = None) -> bool:
        """Runs FINISH: `fields` written with `state`, or `if_cancelled` (a failed job's fields) instead
        when the job is to end done but was cancelled."""
        cancelled = if_cancelled or {}
        return bool(self._scripts["FINISH"](keys=self._keys(claim.job_id),
                                            args=[claim.job_id, claim.owner, self.ttl_s, state, data,
                                                  len(cancelled), *_pairs(cancelled), *_pairs(fields)]))

    def ack(self, message_id: str) -> None:
        """Drops a queue entry whose job is finished (or gone)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.queue, GROUP, message_id)
        pipe.xdel(self.queue, message_id)
        pipe.execute()

    def heartbeat(self, consumer: str, message_ids: list[str]) -> list[str]:
        """Keeps `consumer`'s running entries from being reclaimed; returns those already taken over."""
        if not message_ids:
            return []
        lost = self._scripts["HEARTBEAT"](keys=[self.queue], args=[GROUP, consumer, *message_ids])
        return [_text(m) for m in lost]

    # --- results ------------------------------------------------------------------------------------------
    def outcome(self, job_id: str) -> Outcome | None:
        """The finished job's image, or None."""
        job, _, result, _ = self._keys(job_id)
        with _store_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hmget(job, "mime_type", "filename", "version", *(_MAP_FIELD + name for name in MAP_NAMES))
            pipe.get(result)
            (mime_type, filename, version, *pngs), data = pipe.execute()
        if data is None or mime_type is None:
            return None
        maps = dict(zip(MAP_NAMES, pngs, strict=True)) if all(pngs) else None
        return Outcome(data=data, mime_type=_text(mime_type), filename=_text(filename), version=int(version),
                       maps=maps)

    def original(self, job_id: str) -> bytes | None:
        """A batch's photo as uploaded, or None once it is gone (a job outside a batch drops it when it finishes)."""
        with _store_errors():
            return self.redis.get(self._keys(job_id).input)

    def error(self, job_id: str) -> ApiError | None:
        """The failed job's error, or None."""
        with _store_errors():
            fields = self.redis.hgetall(self._job(job_id))
        fields = {_text(k): _text(v) for k, v in fields.items()
                  if k != b"options" and not k.startswith(_MAP_FIELD.encode())}
        return error_from_fields(fields) if fields.get("state") == JobState.FAILED.value else None


class RedisJob:
    """A handle on one job in Redis with the reading methods of bff.jobs.Job, for the routes."""

    def __init__(self, store: RedisJobStore, job_id: str):
        self.store = store
        self.id = job_id
        self._last: dict = {"id": job_id, "state": JobState.QUEUED.value, "done": 0, "total": 0}

    def snapshot(self) -> dict:
        """The job's progress; ApiError 404 when it expired meanwhile, 503 when Redis is down."""
        with _store_errors():
            snap = self.store.read(self.id)
        if snap is None:
            raise ApiError(404, "unknown_job", "There is no such job any more: it has expired or was deleted.")
        self._last = snap
        return snap

    def wait(self, after_revision: object, timeout: float) -> tuple[str, dict]:
        """Blocks until an event newer than `after_revision` (an event id) arrives, or `timeout` passes.

        Returns (newest event id, its snapshot); without a valid event id, at once the newest event's id
        and the current snapshot. While Redis is unreachable it returns the last snapshot it saw, unchanged.
        """
        events = self.store._keys(self.id).events
        try:
            if not (isinstance(after_revision, str) and _STREAM_ID.match(after_revision)):
                newest = self.store.redis.xrevrange(events, count=1)
                return (_text(newest[0][0]) if newest else "0-0"), self.snapshot()
            reply = self.store.redis.xread({events: after_revision}, count=200,
                                           block=max(1, int(timeout * 1000)))
            if not reply:  # nothing new: the current state (it may have ended before this stream resumed)
                return after_revision, self.snapshot()
        except (redis.RedisError, ApiError) as err:
            if isinstance(err, ApiError) and err.status == 404:
                raise
            time.sleep(min(timeout, 1.0))  # Redis is restarting: keep the stream open, try again soon
            return after_revision, self._last
        event_id, fields = reply[0][1][-1]
        self._last = json.loads(fields[b"data"])
        return _text(event_id), self._last

    def wait_finished(self, timeout: float) -> dict:
        """Blocks until the job is done or failed, or `timeout` passes; returns its snapshot then."""
        deadline = time.monotonic() + timeout
        revision, snap = self.wait(None, 0)
        while snap["state"] not in FINISHED and time.monotonic() < deadline:
            revision, snap = self.wait(revision, min(5.0, max(0.001, deadline - time.monotonic())))
        return snap

    @property
    def outcome(self) -> Outcome | None:
        return self.store.outcome(self.id)

    @property
    def error(self) -> ApiError | None:
        return self.store.error(self.id)

    @property
    def original(self) -> bytes | None:
        return self.store.original(self.id)


def _pairs(fields: dict) -> list:
    """{name: value} as the flat [name, value, ...] a script's ARGV takes."""
    return [item for name, value in fields.items() for item in (name, value)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
