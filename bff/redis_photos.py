"""Photos in Redis (`--job-store redis://...`): any gateway replica answers for any photo id.

Layout under the job store's key prefix:
- `<p>:photo:<id>`, a hash with the file (`data`) and its facts, expiring `ttl_s` after the upload;
- `<p>:photos:<client>`, a sorted set of that client's photo ids scored by their expiry time, for the
  per-client limit (expired members are trimmed before every count).
The per-client count is read and then written in two round trips, so two uploads racing from one
address may both pass: the limit is a bound on abuse, not an exact quota. The bytes Redis holds are
bounded by its own `maxmemory`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bff.photos import Photo, new_photo_id, too_many_photos, unknown_photo
from bff.redis_jobs import unavailable

_FIELDS = ("data", "width", "height", "format", "filename", "client", "expires_at")


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError:
        raise unavailable() from None


class RedisPhotoStore:
    """The Redis twin of bff.photos.MemoryPhotoStore (same methods, same errors, plus 503 when Redis is away)."""

    def __init__(self, client: redis.Redis, ttl_s: float, per_client: int, prefix: str = "tessera"):
        self.redis = client
        self.ttl_s = ttl_s
        self.per_client = per_client
        self.prefix = prefix

    def _photo(self, photo_id: str) -> str:
        return f"{self.prefix}:photo:{photo_id}"

    def _client(self, client: str) -> str:
        return f"{self.prefix}:photos:{client}"

    def check_room(self, client: str, incoming_bytes: int) -> None:
        with _store_errors():
            count, oldest = self._live_count(client)
        if count >= self.per_client:
            raise too_many_photos(count, self.per_client, oldest - time.time())

    def _live_count(self, client: str) -> tuple[int, float]:
        """(the client's live photos, the expiry time of its oldest one; 0 when it has none)."""
        key = self._client(client)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        _, count, oldest = pipe.execute()
        return int(count), float(oldest[0][1]) if oldest else 0.0

    def put(self, data: bytes, width: int, height: int, fmt: str, filename: str, client: str) -> Photo:
        self.check_room(client, len(data))
        photo = Photo(id=new_photo_id(), data=data, width=width, height=height, format=fmt, filename=filename,
                      client=client, expires_at=time.time() + self.ttl_s)
        ttl_ms = max(1, int(self.ttl_s * 1000))
        with _store_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(self._photo(photo.id), mapping={"data": data, "width": width, "height": height, "format": fmt,
                                                      "filename": filename, "client": client,
                                                      "expires_at": repr(photo.expires_at)})
            pipe.pexpire(self._photo(photo.id), ttl_ms)
            pipe.zadd(self._client(client), {photo.id: photo.expires_at})
            pipe.pexpire(self._client(client), ttl_ms)
            pipe.execute()
        return photo

    def get(self, photo_id: str) -> Photo:
        with _store_errors():
            values = self.redis.hmget(self._photo(photo_id), *_FIELDS)
        if values[0] is None:
            raise unknown_photo()
        data, width, height, fmt, filename, client, expires_at = values
        return Photo(id=photo_id, data=data, width=int(width), height=int(height), format=fmt.decode(),
                     filename=filename.decode(), client=client.decode(), expires_at=float(expires_at))

    def delete(self, photo_id: str) -> None:
        photo = self.get(photo_id)
        with _store_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self._photo(photo_id))
            pipe.zrem(self._client(photo.client), photo_id)
            pipe.execute()

