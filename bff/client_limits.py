"""Limits per client: one address cannot take every progress stream (and the waitress thread each one
holds), so a greedy or broken client no longer cuts everyone else's page off.

A client is its remote address. Behind a reverse proxy, set `trusted_proxy` to its address (and
`trusted_proxy_hops` to the number of proxies in the chain): then waitress takes the client's address
from X-Forwarded-For on connections from that proxy only (bff/waitress_settings.py). With no trusted
proxy (the default) the header is removed, since any client could write one.
"""

from __future__ import annotations

import threading
from collections import Counter

from flask import Flask, current_app, request

from bff.config import GatewayConfig
from bff.errors import ApiError

EXTENSION = "tessera_stream_slots"


class StreamSlots:
    """At most `total` progress streams open at once, and at most `per_client` of them per client."""

    def __init__(self, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def open(self, client: str) -> None:
        """Takes a slot for `client`, or raises ApiError 429 saying which limit is reached."""
        with self._lock:
            if self._open[client] >= self.per_client:
                raise ApiError(429, "too_many_streams", f"This address already follows {self._open[client]} "
                                                        "jobs; close one, or poll the job's status URL.",
                               retry_after=5)
            if sum(self._open.values()) >= self.total:
                raise ApiError(429, "busy", "Too many progress streams are open; poll the job's status URL "
                                            "or try again shortly.", retry_after=5)
            self._open[client] += 1

    def close(self, client: str) -> None:
        """Gives `client`'s slot back."""
        with self._lock:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]


def client_address() -> str:
    """The current request's client: its remote address (the forwarded one behind a trusted proxy)."""
    return request.remote_addr or "unknown"


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Creates the stream slots: half the waitress threads in all, so some always serve everyone else."""
    app.extensions[EXTENSION] = StreamSlots(total=max(1, config.threads // 2),
                                            per_client=config.max_streams_per_client)


def stream_slots() -> StreamSlots:
    """The current app's StreamSlots."""
    return current_app.extensions[EXTENSION]
