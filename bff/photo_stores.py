"""The gateway's photo store (bff.photos): the memory one, or the Redis one (bff.redis_photos) when the
job store is Redis, so that every replica sees every photo."""

from __future__ import annotations

import redis
from flask import Flask, current_app

from bff.config import GatewayConfig
from bff.photos import MemoryPhotoStore
from bff.redis_photos import RedisPhotoStore

EXTENSION = "tessera_photos"


def init_app(app: Flask, config: GatewayConfig, redis_client: redis.Redis | None = None) -> None:
    """The memory store, or the Redis one when the job store is Redis (`redis_client` its connection)."""
    if redis_client is None:
        store = MemoryPhotoStore(config.photo_ttl_s, config.max_photo_bytes, config.max_photos_per_client)
    else:
        store = RedisPhotoStore(redis_client, config.photo_ttl_s, config.max_photos_per_client)
    app.extensions[EXTENSION] = store


def photo_store() -> MemoryPhotoStore | RedisPhotoStore:
    """The current app's photo store (memory or Redis, same methods)."""
    return current_app.extensions[EXTENSION]
