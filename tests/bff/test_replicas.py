"""Several gateways, workers and inference servers on one real Redis: jobs outlive the process that
took them, any replica answers for any job, and kill -9 (of a gateway, or of Redis) loses nothing."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile

import numpy as np
import pytest
import redis
from PIL import Image

from scripts.local_stack import running_server
from tests.bff.live import multipart
from tests.bff.live import post_form as post
from tests.bff.pictures import encoded
from tests.support import TINY_STYLE
from tests.support.gateway import follow_events, gateway_process, get, worker_process
from tests.support.images import assert_same_up_to_rounding
from tests.support.redis_server import running_redis
from tests.support.tiny_model import TinyGenerator, whole_image_reference

pytestmark = pytest.mark.slow
# Small tiles make the tiny model's images take seconds, so a process can die in the middle of one.
SERVER_FLAGS = {"default_tile_size": 32, "max_batch_size": 1}
# A replica whose heartbeat (every quarter of this) stops for this long loses its jobs to another.
CLAIM_IDLE_S = 3


@pytest.fixture(scope="module")
def servers(tiny_registry):
    """Two inference server replicas."""
    with running_server(tiny_registry, **SERVER_FLAGS) as a, running_server(tiny_registry, **SERVER_FLAGS) as b:
        yield [a, b]


@pytest.fixture
def store(tmp_path):
    with running_redis(tmp_path) as server:
        yield server


def photo(seed: int, width: int, height: int) -> np.ndarray:
    """A smooth picture with some noise: compresses well as PNG, yet every tile differs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, seed * 37 % 256)], axis=2)
    return np.clip(base + rng.integers(-8, 9, size=base.shape), 0, 255).astype(np.uint8)


def expected(pixels: np.ndarray) -> np.ndarray:
    return whole_image_reference(TinyGenerator(0), pixels)


def submit_job(base: str, pixels: np.ndarray, name: str = "photo.png") -> dict:
    # Full resolution (scale 1): the default brush scale paints photos over 1024 px at a working
    # resolution, and these jobs are compared with the whole-image reference at full size.
    body, content_type = multipart({"style": TINY_STYLE, "scale": "1"}, {"image": (name, encoded(pixels, "PNG"))})
    status, job = post(base + "/api/jobs", body, content_type)
    assert status == 202, job
    return job


def result_image(base: str, url: str) -> np.ndarray:
    status, data = get(base + url)
    assert status == 200, data[:200]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def job_record(url: str, job_id: str) -> dict:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return client.hgetall(f"tessera:job:{job_id}") | {
            "events": [fields["event"] for _, fields in client.xrange(f"tessera:job:{job_id}:events")]}
    finally:
        client.close()


def test_a_job_created_on_one_gateway_is_followed_and_fetched_on_another(servers, store, tmp_path):
    pixels = photo(1, 300, 200)
    with gateway_process(servers, tmp_path, "a", job_store=store.url) as (_, a), \
            gateway_process(servers, tmp_path, "b", job_store=store.url) as (_, b):
        job = submit_job(a, pixels)
        events = follow_events(b + job["events_url"], timeout=60)
        assert events[-1][1] == "done" and all(kind == "progress" for _, kind, _ in events[:-1])
        assert_same_up_to_rounding(result_image(b, job["result_url"]), expected(pixels))
        # A client that lost its stream after some event resumes on the other replica after that event.
        resumed = follow_events(a + job["events_url"], last_event_id=events[0][0], timeout=30)
        assert [kind for _, kind, _ in resumed] == ["done"] and resumed[0][0] == events[-1][0]
        # A photo uploaded once on one replica is previewed and restyled by id on the other.
        status, stored = post(a + "/api/photos", *multipart({}, {"image": ("p.png", encoded(pixels, "PNG"))}))
        assert status == 201, stored
        status, preview = get(b + stored["url"] + f"/previews/{TINY_STYLE}")
        assert status == 200 and Image.open(io.BytesIO(preview)).size == (300, 200)
        status, by_id = post(b + "/api/jobs", *multipart({"style": TINY_STYLE, "photo_id": stored["id"]}, {}))
        assert status == 202, by_id
        assert follow_events(a + by_id["events_url"], timeout=60)[-1][1] == "done"
        assert_same_up_to_rounding(result_image(a, by_id["result_url"]), expected(pixels))


@pytest.mark.serial  # serial pass of `make test`: taken over within 90 s
def test_a_job_survives_kill_9_of_the_gateway_running_it(servers, store, tmp_path):
    pixels = photo(2, 1536, 1024)  # 1536 tiles: a few seconds of work
    flags = {"job_store": store.url, "claim_idle": CLAIM_IDLE_S, "job_workers": 1}
    with gateway_process(servers, tmp_path, "a", **flags) as (proc_a, a), \
            gateway_process(servers, tmp_path, "b", **flags) as (proc_b, b):
        job = submit_job(a, pixels)
        runner = _wait_for_progress(store.url, job["id"], {proc_a.pid: (proc_a, b), proc_b.pid: (proc_b, a)})
        victim, survivor = runner
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        started = time.monotonic()
        events = follow_events(survivor + job["events_url"], timeout=120)
        assert events[-1][1] == "done", events[-3:]
        assert_same_up_to_rounding(result_image(survivor, job["result_url"]), expected(pixels))
        record = job_record(store.url, job["id"])
        # Taken over (a third run would only mean a heartbeat stalled under load) ...
        assert int(record["attempts"]) >= 2
        assert record["events"].count("done") == 1 and "error" not in record["events"]  # ... finished once
        assert time.monotonic() - started < 90


def _wait_for_progress(url: str, job_id: str, by_pid: dict, timeout: float = 60):
    """(process running the job, base URL of the other gateway) once the job has made some progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = job_record(url, job_id)
        if record.get("owner") and int(record.get("done", 0)) >= 50:
            assert int(record["done"]) < int(record["total"]), "the job finished before the kill"
            pid = int(record["owner"].split("/")[0].rsplit("-", 2)[1])
            return by_pid[pid]
        time.sleep(0.02)
    raise AssertionError(f"the job made no progress: {job_record(url, job_id)}")


def batch_body(photos: list[np.ndarray]) -> tuple[bytes, str]:
    """A multipart batch: the photos as repeated `images` fields."""
    boundary = "tessera-batch-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="style"\r\n\r\n{TINY_STYLE}\r\n'.encode()]
    for index, pixels in enumerate(photos):
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="p{index:02d}.png"\r\n'
                "Content-Type: image/png\r\n\r\n")
        parts.append(head.encode() + encoded(pixels, "PNG") + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def wait_batch(base: str, batch: dict, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, raw = get(base + batch["status_url"])
        if status == 200:
            current = json.loads(raw)
            if current["state"] == "finished":
                return current
        assert time.monotonic() < deadline, f"the batch did not finish: {raw[:500]}"
        time.sleep(0.2)


def test_a_batch_of_20_photos_through_two_workers(servers, store, tmp_path):
    photos = [photo(10 + i, 96 + 8 * i, 64 + 4 * i) for i in range(20)]
    with gateway_process(servers, tmp_path, "gw", job_store=store.url, job_workers=0) as (_, gw), \
            worker_process(servers, tmp_path, "w1", job_store=store.url, job_workers=1), \
            worker_process(servers, tmp_path, "w2", job_store=store.url, job_workers=1):
        status, batch = post(gw + "/api/batches", *batch_body(photos))
        assert status == 202 and batch["total_photos"] == 20, batch
        finished = wait_batch(gw, batch, timeout=120)
        assert finished["done_photos"] == 20, finished
        status, data = get(gw + batch["result_url"])
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        assert names == [f"p{i:02d}-{TINY_STYLE}.png" for i in range(20)]
        for i, name in enumerate(names):
            result = np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("RGB"))
            assert_same_up_to_rounding(result, expected(photos[i]))
    restyled = [(tmp_path / f"{w}.log").read_text().count("restyled ") for w in ("w1", "w2")]
    assert sum(restyled) == 20 and min(restyled) > 0, restyled


def test_every_accepted_job_ends_after_kill_9_of_redis(servers, store, tmp_path):
    photos = [photo(40 + i, 640, 480) for i in range(6)]  # 300 tiles each: the batch takes seconds
    with gateway_process(servers, tmp_path, "gw", job_store=store.url, claim_idle=CLAIM_IDLE_S,
                         job_workers=1) as (_, gw), \
            worker_process(servers, tmp_path, "w1", job_store=store.url, claim_idle=CLAIM_IDLE_S, job_workers=1):
        status, batch = post(gw + "/api/batches", *batch_body(photos))
        assert status == 202, batch
        _wait_until(lambda: any(int(job_record(store.url, p["id"]).get("done", 0)) > 0 for p in batch["photos"]))
        store.kill()
        status, body = get(gw + batch["status_url"])
        assert status == 503 and b"job store" in body  # said plainly while Redis is away
        time.sleep(1.0)
        store.start()  # same port, same append-only file
        finished = wait_batch(gw, batch, timeout=150)
        status, data = get(gw + batch["result_url"])
    states = [(p["name"], p["state"], p.get("message")) for p in finished["photos"]]
    assert all(state == "done" or (state == "failed" and message) for _, state, message in states), states
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for index, (name, state, _) in enumerate(states):
            if state == "done":
                result = archive.read(f"{name.removesuffix('.png')}-{TINY_STYLE}.png")
                assert_same_up_to_rounding(np.asarray(Image.open(io.BytesIO(result)).convert("RGB")),
                                           expected(photos[index]))


def _wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def critic_server(tmp_path_factory):
    """An inference server with a style that explains (the tiny generator with a tiny critic)."""
    from tests.support.critic_version import tiny_critic, write_critic_version

    registry = tmp_path_factory.mktemp("critic-registry")
    write_critic_version(registry, tmp_path_factory.mktemp("critic"), tiny_critic())
    with running_server(registry) as address:
        yield address


def test_an_explained_job_keeps_its_critic_maps_for_every_replica(critic_server, store, tmp_path):
    """The page asks every style with a critic to explain; with the Redis store /api/jobs refused that
    (400 explain_unavailable), so the page could restyle none of those styles (a new user's trial).
    Now the maps are kept with the result: submitted to one replica, read from the other."""
    from tests.support.critic_version import CRITIC_STYLE

    pixels = photo(7, 96, 64)
    with gateway_process([critic_server], tmp_path, "a", job_store=store.url) as (_, a), \
            gateway_process([critic_server], tmp_path, "b", job_store=store.url) as (_, b):
        body, content_type = multipart({"style": CRITIC_STYLE, "explain": "true", "scale": "1"},
                                       {"image": ("photo.png", encoded(pixels, "PNG"))})
        status, job = post(a + "/api/jobs", body, content_type)
        assert status == 202, job
        events = follow_events(b + job["events_url"], timeout=60)
        assert events[-1][1] == "done" and set(events[-1][2]["maps"]) == {"realism", "gradcam"}
        status, snapshot = get(b + job["status_url"])
        assert status == 200 and set(json.loads(snapshot)["maps"]) == {"realism", "gradcam"}
        for name, url in events[-1][2]["maps"].items():
            status, data = get(b + url)
            assert status == 200, (name, data[:200])
            assert Image.open(io.BytesIO(data)).size == (96, 64)
        assert result_image(a, job["result_url"]).shape == pixels.shape
        # A job not asked to explain has no maps, and its record no map fields.
        body, content_type = multipart({"style": CRITIC_STYLE, "scale": "1"},
                                       {"image": ("photo.png", encoded(pixels, "PNG"))})
        status, plain = post(a + "/api/jobs", body, content_type)
        assert status == 202 and follow_events(b + plain["events_url"], timeout=60)[-1][1] == "done"
        assert not any(field.startswith("map:") for field in job_record(store.url, plain["id"]))
        status, _ = get(b + f"/api/jobs/{plain['id']}/maps/realism")
        assert status == 404


def test_a_job_waits_for_its_inference_server_to_come_back(tiny_registry, store, tmp_path):
    """A job kept in Redis failed at once ('unavailable') when its inference server went away, and every
    queued job with it (a new user's trial). Now it runs again after growing pauses until the server is
    back (job_runner.SERVER_WAIT_S): here the server is killed right after the job is queued and started
    again on the same port 3 s later."""
    from scripts.local_stack import server_process
    from tests.bff.live import closed_port_address

    address = closed_port_address()
    port = int(address.rpartition(":")[2])
    pixels = photo(4, 600, 400)  # 32 px tiles: the server is gone long before it could finish
    with server_process(tiny_registry, port=port, **SERVER_FLAGS) as (first, _, _), \
            gateway_process([address], tmp_path, "a", job_store=store.url, job_workers=1) as (_, a):
        job = submit_job(a, pixels)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        time.sleep(3)
        with server_process(tiny_registry, port=port, **SERVER_FLAGS):
            events = follow_events(a + job["events_url"], timeout=120)
        assert events[-1][1] == "done", events[-3:]
        assert_same_up_to_rounding(result_image(a, job["result_url"]), expected(pixels))
    assert "Trying again in" in (tmp_path / "a.log").read_text()
