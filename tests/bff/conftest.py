"""Fixtures for the gateway tests: apps wired to a real inference server, or to none at all."""

from __future__ import annotations

import pytest
import redis

from bff import close_app
from scripts.local_stack import running_server
from tests.bff.live import closed_port_address, make_app
from tests.support.conditioned import write_painting_version
from tests.support.redis_server import running_redis


@pytest.fixture
def app(inference_server):
    """The gateway in front of the session's real inference server (serving tests.support.TINY_STYLE)."""
    app = make_app(servers=(inference_server,))
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def down_client():
    """A test client of a gateway whose only inference server address has nothing listening."""
    app = make_app(servers=(closed_port_address(),))
    yield app.test_client()
    close_app(app)


@pytest.fixture(scope="module")
def painting_client(tmp_path_factory):
    """A test client of a gateway before a real server of a style-conditioned style that takes style
    images (tests.support.conditioned.PAINTING_STYLE, with the marbling and mosaic presets)."""
    registry = tmp_path_factory.mktemp("painting-registry")
    write_painting_version(registry)
    with running_server(registry) as address:
        app = make_app(servers=(address,), preview_size=64)
        yield app.test_client()
        close_app(app)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """One real redis-server for a test module; `redis_client` empties it for each test."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_client(redis_server):
    """A client of the module's redis-server, its database emptied first."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()
