"""GET /metrics on the gateway: requests by route template and code, latency, jobs by state, queue
depth and open progress streams, in Prometheus' text format."""

from __future__ import annotations

import io
import re

from prometheus_client.parser import text_string_to_metric_families

from bff import close_app
from tests.bff.live import make_app
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE
from tests.support.redis_server import running_redis


def samples(client) -> dict[tuple, float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def form():
    return {"style": TINY_STYLE, "image": (io.BytesIO(encoded(gradient(), "PNG")), "a.png")}


def test_requests_are_counted_by_route_template_and_code(client):
    job = client.post("/api/jobs", data=form()).json
    client.get(job["events_url"]).get_data()  # follow it to the end
    client.get("/api/jobs/no-such-job")
    found = samples(client)
    assert value(found, "tessera_gateway_requests_total", route="/api/jobs", method="POST", code="202") == 1
    assert value(found, "tessera_gateway_requests_total", route="/api/jobs/<job_id>", method="GET", code="404") == 1
    assert value(found, "tessera_gateway_request_seconds_count", route="/api/jobs", method="POST") == 1
    assert value(found, "tessera_gateway_jobs", state="done") == 1
    assert not any("no-such-job" in str(key) for key in found)  # ids never become series


def test_open_progress_streams_are_counted(client):
    job = client.post("/api/jobs", data=form()).json
    stream = client.get(job["events_url"], buffered=False)
    assert value(samples(client), "tessera_gateway_event_streams") == 1
    stream.close()
    assert value(samples(client), "tessera_gateway_event_streams") == 0


def test_the_shared_queue_depth_is_reported(inference_server, tmp_path):
    with running_redis(tmp_path) as store:
        app = make_app(servers=(inference_server,), job_store=store.url, job_workers=0)
        try:
            client = app.test_client()
            for _ in range(2):
                assert client.post("/api/jobs", data=form()).status_code == 202
            found = samples(client)
            assert value(found, "tessera_gateway_queue_depth") == 2
            assert value(found, "tessera_gateway_jobs", state="queued") == 2
            store.kill()  # a scrape still answers while Redis is away
            text = client.get("/metrics").get_data(as_text=True)
            assert re.search(r"^tessera_gateway_queue_depth NaN$", text, re.M)
        finally:
            close_app(app)
