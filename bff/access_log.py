"""One log line per API request (waitress writes none): method, path, status and time taken.

What the request chose (its path, with style ids and names in it) is logged escaped: a line break, a NUL or
another control character would otherwise write a line of the client's own making into the log.
"""

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
        log.log(level, "%s %s %d %.1f ms", printable(request.method), printable(request.path), resp.status_code,
                took_ms)
        return resp


def printable(text: str) -> str:
    """`text` for one log line: each character that is not printable (line breaks, NUL, escape sequences,
    U+2028) and each backslash written as a Python escape (\\n, \\x00, \\u2028, \\\\), the rest as is."""
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in text)
