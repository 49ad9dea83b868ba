"""The real inference server, started in this process on a free loopback port, for the docs scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def local_server(registry: Path, threads: int = 2) -> Iterator[str]:
    """Serve ``registry`` on 127.0.0.1 (port chosen by the OS) and yield its 'HOST:PORT'.

    It is the same server `make run` starts (``inference_server.server.start``): it loads and
    validates every version, tiles, batches and streams. It stops when the block ends.
    """
    from inference_server.config import parse_config
    from inference_server.metrics import ServerMetrics
    from inference_server.server import start

    config = parse_config(["--registry", str(registry), "--host", "127.0.0.1", "--port", "0",
                           "--threads", str(threads), "--poll-interval", "3600"])
    running = start(config, ServerMetrics())
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(1.0)
