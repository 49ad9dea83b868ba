"""A job says where it waits and how long it may take, and DELETE stops it: the inference server's tile
counter stops growing. Real waitress, real server with small tiles, one job worker (memory store)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from bff import close_app
from scripts.local_stack import server_process
from tests.bff.live import make_app, multipart, post_form, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE
from tests.support.metrics import counter_total

TILE = 64
BIG = encoded(gradient(2048, 1536))  # 768 tiles of 64 px at scale 1: seconds of work for the tiny model
SMALL = encoded(gradient(256, 192))


@pytest.fixture(scope="module")
def stack(tiny_registry):
    with server_process(tiny_registry, metrics_port=0, default_tile_size=TILE) as (_, address, log):
        app = make_app(servers=(address,), job_workers=1)
        try:
            with serving(app) as url:
                yield url, log
        finally:
            close_app(app)


def tiles_done(log) -> float:
    return counter_total(log, "tessera_tiles_total", style=TINY_STYLE)


def status(base: str, job: dict) -> dict:
    with urllib.request.urlopen(base + job["status_url"], timeout=10) as resp:
        return json.load(resp)


def submit(base: str, photo_id: str) -> dict:
    code, job = post_form(f"{base}/api/jobs", *multipart({"style": TINY_STYLE, "photo_id": photo_id, "scale": "1"},
                                                          {}))
    assert code == 202, job
    return job


def cancel(base: str, job: dict) -> None:
    request = urllib.request.Request(base + job["status_url"], method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 204


def wait_until(condition, limit_s: float = 30):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def upload(base: str, data: bytes) -> str:
    code, photo = post_form(f"{base}/api/photos", *multipart({}, {"image": ("p.png", data)}))
    assert code == 201, photo
    return photo["id"]


def test_queue_place_estimate_expiry_and_cancel_that_stops_the_server(stack):
    base, log = stack
    big, small = upload(base, BIG), upload(base, SMALL)
    # A small job measures the rate; its status then says until when its result stays.
    done = submit(base, small)
    finished = wait_until(lambda: (s := status(base, done))["state"] == "done" and s)
    assert finished["expires_at"].endswith("Z") and finished["queue_position"] is None
    running, queued = submit(base, big), submit(base, big)
    waiting = status(base, queued)
    assert waiting["state"] == "queued" and waiting["queue_position"] == 1
    assert waiting["eta_s"] is not None and waiting["eta_s"] > 0
    moving = wait_until(lambda: (s := status(base, running))["done"] > 0 and s)
    assert moving["eta_s"] is not None and moving["eta_s"] > 0 and moving["queue_position"] is None
    cancel(base, queued)  # a queued job never starts
    assert status(base, queued)["error"] == "cancelled"
    cancel(base, running)
    ended = wait_until(lambda: (s := status(base, running))["state"] == "failed" and s, 10)
    assert (ended["status"], ended["error"]) == (499, "cancelled")
    time.sleep(1.0)  # room for tiles already inside the server to finish
    settled = tiles_done(log)
    time.sleep(1.5)
    assert tiles_done(log) == settled, "the server kept working on a cancelled job"
    assert settled < 768 + 12 + 768 / 2, settled  # the small job's tiles, and well under the big one's
