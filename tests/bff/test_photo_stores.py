"""Both photo stores (memory, and Redis on a real redis-server, one per module and flushed before each
test) keep, count, expire and forget photos alike."""

from __future__ import annotations

import time

import pytest

from bff.errors import ApiError
from bff.photos import MemoryPhotoStore
from bff.redis_photos import RedisPhotoStore


def memory(ttl_s: float) -> MemoryPhotoStore:
    return MemoryPhotoStore(ttl_s=ttl_s, max_bytes=1000, per_client=2)


@pytest.fixture(params=["memory", "in_redis"])
def make(request):
    """Makes a store of the kind the test is run for, given its photos' TTL; Redis starts only for in_redis."""
    if request.param == "memory":
        return memory
    client = request.getfixturevalue("redis_client")
    return lambda ttl_s: RedisPhotoStore(client, ttl_s=ttl_s, per_client=2)


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


def test_each_client_keeps_at_most_its_share(make):
    store = make(60)
    for _ in range(2):
        store.put(b"x", 1, 1, "png", "", "10.0.0.1")
    with pytest.raises(ApiError) as err:
        store.check_room("10.0.0.1", 1)
    assert err.value.status == 429 and err.value.error == "too_many_photos"
    store.put(b"x", 1, 1, "png", "", "10.0.0.2")  # another client is not affected


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


def test_a_client_at_its_share_is_told_to_come_back_when_its_oldest_photo_expires(make):
    """Photos live an hour: the wait a refusal asks for is until the client's oldest one expires, not a
    minute after which the same refusal would come again."""
    store = make(3600)
    for _ in range(2):
        store.put(b"x", 1, 1, "png", "", "10.0.0.1")
    with pytest.raises(ApiError) as err:
        store.check_room("10.0.0.1", 1)
    assert 3598 <= err.value.retry_after <= 3600
    assert "wait 60 minutes until the oldest expires" in err.value.message


def test_a_full_memory_store_asks_to_wait_until_enough_bytes_expire():
    clock = [0.0]
    store = MemoryPhotoStore(ttl_s=100, max_bytes=1000, per_client=9, clock=lambda: clock[0])
    store.put(b"x" * 300, 1, 1, "png", "", "10.0.0.1")  # expires at 100
    clock[0] = 30
    store.put(b"x" * 300, 1, 1, "png", "", "10.0.0.2")  # expires at 130
    clock[0] = 50
    store.put(b"x" * 300, 1, 1, "png", "", "10.0.0.3")  # expires at 150
    with pytest.raises(ApiError) as err:  # 900 + 500 held: 400 must go, the first two photos
        store.check_room("10.0.0.4", 500)
    assert err.value.retry_after == 80 and "try again in 2 minutes" in err.value.message
    with pytest.raises(ApiError) as err:  # 900 + 200 held: the first photo is enough
        store.check_room("10.0.0.4", 200)
    assert err.value.retry_after == 50 and "try again in 50 seconds" in err.value.message
