"""Both photo stores (memory, and Redis on fakeredis) keep, count, expire and forget photos alike."""

from __future__ import annotations

import time

import fakeredis
import pytest

from bff.errors import ApiError
from bff.photos import MemoryPhotoStore
from bff.redis_photos import RedisPhotoStore


def memory(ttl_s: float) -> MemoryPhotoStore:
    return MemoryPhotoStore(ttl_s=ttl_s, max_bytes=1000, per_client=2)


def in_redis(ttl_s: float) -> RedisPhotoStore:
    return RedisPhotoStore(fakeredis.FakeRedis(server=fakeredis.FakeServer()), ttl_s=ttl_s, per_client=2)


STORES = [memory, in_redis]


@pytest.mark.parametrize("make", STORES)
def test_a_photo_round_trips_by_id(make):
    store = make(60)
    photo = store.put(b"\xff\xd8jpeg bytes", 40, 30, "jpeg", "a.jpg", "10.0.0.1")
    again = store.get(photo.id)
    assert again == photo and again.data == b"\xff\xd8jpeg bytes"
    assert 59 <= photo.describe()["expires_in_s"] <= 60
    store.delete(photo.id)
    with pytest.raises(ApiError) as err:
        store.get(photo.id)
    assert err.value.status == 404 and err.value.error == "unknown_photo"


@pytest.mark.parametrize("make", STORES)
def test_each_client_keeps_at_most_its_share(make):
    store = make(60)
    for _ in range(2):
        store.put(b"x", 1, 1, "png", "", "10.0.0.1")
    with pytest.raises(ApiError) as err:
        store.check_room("10.0.0.1", 1)
    assert err.value.status == 429 and err.value.error == "too_many_photos"
    store.put(b"x", 1, 1, "png", "", "10.0.0.2")  # another client is not affected


@pytest.mark.parametrize("make", STORES)
def test_photos_expire_and_free_their_clients_share(make):
    store = make(0.3)
    first = store.put(b"x", 1, 1, "png", "", "10.0.0.1")
    store.put(b"x", 1, 1, "png", "", "10.0.0.1")
    time.sleep(0.5)
    with pytest.raises(ApiError):
        store.get(first.id)
    store.check_room("10.0.0.1", 1)


def test_the_memory_store_bounds_its_bytes():
    store = memory(60)
    store.put(b"x" * 600, 1, 1, "png", "", "10.0.0.1")
    with pytest.raises(ApiError) as err:
        store.put(b"x" * 600, 1, 1, "png", "", "10.0.0.2")
    assert err.value.status == 429 and err.value.error == "photo_store_full" and "0.001 MB" in err.value.message
    assert store.held_bytes() == 600
