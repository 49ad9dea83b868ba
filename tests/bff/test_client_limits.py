"""Progress streams are limited per client address: one client holding many streams on its own job no
longer cuts every other user's page off; the address comes from X-Forwarded-For only when proxies are
trusted."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from bff import close_app
from bff.client_limits import StreamSlots
from bff.errors import ApiError
from bff.jobs import Outcome, job_store_of
from tests.bff.live import make_app, serving


@pytest.fixture
def blocked_job(inference_server):
    """An app (16 threads: 8 streams in all, 3 per client) and the id of a job that runs until the test ends."""
    app = make_app(servers=(inference_server,))
    release = threading.Event()
    job = job_store_of(app).submit(lambda progress: release.wait(30) and Outcome(b"", "image/png", "x.png", 1))
    yield app, job.id
    release.set()
    close_app(app)


def follow(url: str, job_id: str, source: str = "127.0.0.1", **headers) -> http.client.HTTPResponse:
    """Opens a progress stream over real HTTP from loopback address `source`; the caller closes it."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    connection.request("GET", f"/api/jobs/{job_id}/events", headers=headers)
    resp = connection.getresponse()
    resp.connection = connection
    return resp


def close_all(responses) -> None:
    for resp in responses:
        resp.close()
        resp.connection.close()


def test_one_client_cannot_take_every_progress_stream(blocked_job):
    app, job_id = blocked_job
    with serving(app, threads=16) as url:
        greedy = [follow(url, job_id) for _ in range(3)]
        assert [r.status for r in greedy] == [200, 200, 200]
        refused = [follow(url, job_id) for _ in range(5)]
        assert {r.status for r in refused} == {429}
        body = json.loads(refused[0].read())
        assert body["error"] == "too_many_streams" and "This address" in body["message"]
        other = follow(url, job_id, source="127.0.0.2")
        assert other.status == 200  # another user still follows their job
        close_all([*greedy, *refused, other])
        deadline = time.monotonic() + 5  # the gateway sees the closed streams at its next write or check
        while (again := follow(url, job_id)).status != 200 and time.monotonic() < deadline:
            close_all([again])
            time.sleep(0.2)
        assert again.status == 200  # closed streams gave their slots back
        close_all([again])


def test_forwarded_addresses_count_only_behind_trusted_proxies(inference_server):
    for proxy, separate in (("", False), ("203.0.113.1", False), ("127.0.0.1", True)):
        app = make_app(servers=(inference_server,), trusted_proxy=proxy)
        release = threading.Event()
        job = job_store_of(app).submit(lambda progress, release=release: release.wait(30) and Outcome(
            b"", "image/png", "x.png", 1))
        with serving(app, threads=16) as url:
            # Four clients behind the proxy at 127.0.0.1: distinct only when the proxy's header is trusted.
            opened = [follow(url, job.id, **{"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(4)]
            statuses = [r.status for r in opened]
            close_all(opened)
        release.set()
        close_app(app)
        assert statuses == ([200] * 4 if separate else [200, 200, 200, 429]), (proxy, statuses)


def test_slots_have_a_total_cap_as_well():
    slots = StreamSlots(total=2, per_client=2)
    slots.open("a")
    slots.open("b")
    with pytest.raises(ApiError, match="Too many progress streams") as err:
        slots.open("c")
    assert err.value.status == 429
    slots.close("a")
    slots.open("c")  # a closed stream frees its slot
