"""A real inference server in this process with its Admin service on, for tests that change the registry
under it at a moment they choose (publish, pin, remove a style, then Admin Reload; the watcher itself
rescans only hourly) and may patch the store's drain times (inference_server.model_store)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inference_server.config import parse_config
from inference_server.metrics import ServerMetrics
from inference_server.server import start


@contextmanager
def running_here(registry: Path, admin_token: str = "") -> Iterator[tuple[object, ServerMetrics]]:
    """Serves `registry` on 127.0.0.1 (a port the OS chose) until the block ends; yields the running server
    (its store, its port) and its metrics. The Admin service is on when `admin_token` is given."""
    config = parse_config(["--registry", str(registry), "--host", "127.0.0.1", "--port", "0", "--threads", "1",
                           "--warmup-runs", "0", "--poll-interval", "3600", "--admin-token", admin_token], environ={})
    metrics = ServerMetrics()
    running = start(config, metrics)
    try:
        yield running, metrics
    finally:
        running.stop(1.0)


@contextmanager
def server_here(registry: Path, admin_token: str = "") -> Iterator[str]:
    """As running_here; yields 'HOST:PORT'."""
    with running_here(registry, admin_token) as (running, _):
        yield f"127.0.0.1:{running.port}"
