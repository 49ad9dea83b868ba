"""GET /api/limits: what an upload must fit, and where the gateway keeps photos (the page's footer says it)."""

from __future__ import annotations

from bff import close_app
from tests.bff.live import make_app
from tests.support.redis_server import running_redis


def test_limits_say_photos_are_kept_in_memory_with_the_memory_store(client):
    assert client.get("/api/limits").json["photos"]["store"] == "memory"


def test_limits_say_photos_are_kept_in_redis_with_the_redis_store(inference_server, tmp_path):
    """With Redis (appendonly, as docs/deploy.md recommends) uploads reach disk: the page must not say
    "in memory only". The URL itself, which may hold a password, is not published."""
    with running_redis(tmp_path) as redis_server:
        app = make_app(servers=(inference_server,), job_store=redis_server.url, job_workers=0)
        try:
            photos = app.test_client().get("/api/limits").json["photos"]
        finally:
            close_app(app)
    assert photos["store"] == "redis"
    assert redis_server.url not in str(photos)


def test_limits_publish_the_batch_limits_so_a_page_can_check_a_batch_before_sending_it(inference_server):
    app = make_app(servers=(inference_server,), max_batch_photos=7, max_batch_bytes=3_000_000)
    try:
        limits = app.test_client().get("/api/limits").json
        schema = app.test_client().get("/api/openapi.json").json["components"]["schemas"]["Limits"]
    finally:
        close_app(app)
    assert (limits["max_batch_photos"], limits["max_batch_bytes"]) == (7, 3_000_000)
    assert {"max_batch_photos", "max_batch_bytes"} <= set(schema["required"]) & set(schema["properties"])
