"""Photos uploaded once (POST /api/photos) and referred to by id by every later preview, restyle and job.

A photo is kept as its uploaded file (PNG, JPEG or WebP bytes, header already checked) under an
unguessable id until a fixed expiry (`photo_ttl_s` after the upload). Here: the photo, its ids and
errors, and the memory store; its Redis twin is bff.redis_photos, and bff.photo_stores picks one with
the job store (`--job-store`):
- memory: this process only; at most `max_photo_bytes` of files in all, so uploads cannot grow the
  process without bound;
- Redis: `<p>:photo:<id>` (a hash: file and facts), shared by every gateway replica, expiring by
  itself; the byte bound is then Redis's own `maxmemory`.
Either way one client address holds at most `max_photos_per_client` live photos. The 512 px thumbnail
that previews are made from is computed once per photo and process (bff.previews).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bff.errors import ApiError
from bff.expiring_bytes import room_at, whole_seconds


@dataclass(frozen=True)
class Photo:
    """One stored upload: the file and what its header said."""

    id: str
    data: bytes = field(repr=False)
    width: int  # upright width in pixels
    height: int
    format: str  # "png", "jpeg" or "webp"
    filename: str  # the upload's file name, as sent (bff.forms.download_name cleans it)
    client: str
    expires_at: float  # Unix time

    def describe(self) -> dict:
        """The photo's facts as JSON (without the file)."""
        return {"id": self.id, "width": self.width, "height": self.height, "format": self.format,
                "bytes": len(self.data), "expires_at": _iso(self.expires_at),
                "expires_in_s": max(0, round(self.expires_at - time.time()))}


def new_photo_id() -> str:
    """128 random bits: the id is the only key to the photo."""
    return secrets.token_urlsafe(16)


def unknown_photo() -> ApiError:
    """The 404 for an id that never existed or has expired."""
    return ApiError(404, "unknown_photo", "There is no such photo; it may have expired. Please upload it again.")


def too_many_photos(count: int, limit: int, room_in_s: float) -> ApiError:
    """The 429 for a client at its photo limit; `room_in_s`: seconds until its oldest photo expires, when
    an upload would first be taken again (its Retry-After)."""
    wait = whole_seconds(room_in_s)
    return ApiError(429, "too_many_photos", f"This address already keeps {count} photos on the gateway (at most "
                                            f"{limit}); delete one, or wait {_duration(wait)} until the oldest "
                                            "expires.", retry_after=wait)


def store_full(limit_bytes: int, room_in_s: float) -> ApiError:
    """The 429 for a full store; `room_in_s`: seconds until enough photos expire for the upload."""
    wait = whole_seconds(room_in_s)
    return ApiError(429, "photo_store_full", f"The gateway already keeps {limit_bytes / 1e6:g} MB of photos, its "
                                             f"limit; try again in {_duration(wait)}.", retry_after=wait)


def _duration(seconds: int) -> str:
    """'45 seconds', '1 minute', '12 minutes' (rounded up) for a message."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class MemoryPhotoStore:
    """Photos in this process, at most `max_bytes` of files and `per_client` photos per client."""

    def __init__(self, ttl_s: float, max_bytes: int, per_client: int, clock: Callable[[], float] = time.time):
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.per_client = per_client
        self._clock = clock
        self._photos: dict[str, Photo] = {}
        self._lock = threading.Lock()

    def check_room(self, client: str, incoming_bytes: int) -> None:
        """Raise the 429 `put` would for `client` and a file of about `incoming_bytes`, before the
        upload is read."""
        with self._lock:
            self._sweep()
            self._refuse(client, incoming_bytes)

    def put(self, data: bytes, width: int, height: int, fmt: str, filename: str, client: str) -> Photo:
        """Keeps a checked upload; raises ApiError 429 when the client or the store is full."""
        with self._lock:
            self._sweep()
            self._refuse(client, len(data))
            photo = Photo(id=new_photo_id(), data=data, width=width, height=height, format=fmt, filename=filename,
                          client=client, expires_at=self._clock() + self.ttl_s)
            self._photos[photo.id] = photo
        return photo

    def get(self, photo_id: str) -> Photo:
        """The live photo with this id; ApiError 404 when unknown or expired."""
        with self._lock:
            photo = self._photos.get(photo_id)
            if photo is None or photo.expires_at <= self._clock():
                raise unknown_photo()
            return photo

    def delete(self, photo_id: str) -> None:
        """Forgets a photo now (404 when unknown); jobs already made from it keep their copy."""
        with self._lock:
            if self._photos.pop(photo_id, None) is None:
                raise unknown_photo()

    def held_bytes(self) -> int:
        with self._lock:
            self._sweep()
            return sum(len(p.data) for p in self._photos.values())

    def _refuse(self, client: str, incoming: int) -> None:
        now = self._clock()
        mine = [p.expires_at for p in self._photos.values() if p.client == client]
        if len(mine) >= self.per_client:
            raise too_many_photos(len(mine), self.per_client, min(mine) - now)
        held = sum(len(p.data) for p in self._photos.values())
        if held + incoming > self.max_bytes:
            holds = ((p.expires_at, len(p.data)) for p in self._photos.values())
            raise store_full(self.max_bytes, room_at(holds, held + incoming - self.max_bytes, now) - now)

    def _sweep(self) -> None:
        now = self._clock()
        for photo_id in [i for i, p in self._photos.items() if p.expires_at <= now]:
            del self._photos[photo_id]


def _iso(unix_time: float) -> str:
    """Unix time -> '2026-11-30T15:00:00Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_time))
