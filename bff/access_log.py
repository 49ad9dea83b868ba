"""One log line per API request (waitress writes none): method, path, status and time taken."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

log = logging.getLogger("bff.access")


def init_app(app: Flask) -> None:
    """Logs /api requests at INFO; page files and health checks, which are many and dull, at DEBUG."""

    @app.before_request
    def _start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def _log(resp):
        took_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        level = logging.INFO if request.path.startswith("/api/") else logging.DEBUG
        # For a progress stream this is the time to its first byte; the stream itself runs on.
        log.log(level, "%s %s %d %.1f ms", request.method, request.path, resp.status_code, took_ms)
        return resp
