"""Who may start an image call: at most `max_calls` at once, at most `max_per_peer` from one client address.

A call's slot comes back as soon as gRPC sees the call end (cancel, deadline), not only once its
handler's thread has unwound, which may lag on a loaded machine. Handler threads still unwinding are
bounded separately (`max_threads`), so the server's thread pool always keeps room for health checks,
ListStyles and admin calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from inference_server.errors import ServerBusy


def peer_host(peer: str) -> str:
    """The client address of a gRPC peer string without its port: 'ipv4:10.0.0.7:5123' -> 'ipv4:10.0.0.7'."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return f"{kind}:{rest.rpartition(':')[0]}"
    return peer


class ImageCallSlots:
    def __init__(self, max_calls: int, max_per_peer: int) -> None:
        self.max_calls, self.max_per_peer = max_calls, max_per_peer
        # A handler may outlive its slot by about one tile's time; twice the slots bounds those threads.
        self.max_threads = 2 * max_calls
        self._lock = threading.Lock()
        self._calls = 0
        self._threads = 0
        self._per_peer: Counter[str] = Counter()

    @contextmanager
    def hold(self, context: grpc.ServicerContext) -> Iterator[None]:
        """A slot for the duration of one call, or ServerBusy at once."""
        peer = peer_host(context.peer())
        self._take(peer)
        release = _Once(lambda: self._give_back(peer))
        context.add_callback(release)
        try:
            yield
        finally:
            release()
            with self._lock:
                self._threads -= 1

    def in_use(self) -> int:
        with self._lock:
            return self._calls

    def _take(self, peer: str) -> None:
        with self._lock:
            if self._calls >= self.max_calls or self._threads >= self.max_threads:
                raise ServerBusy(f"the server is busy: {self.max_calls} image calls are running; retry shortly")
            if self._per_peer[peer] >= self.max_per_peer:
                raise ServerBusy(f"the server is busy for this client: it allows {self.max_per_peer} image calls "
                                 f"at once from one address ({peer}); retry when one ends")
            self._calls += 1
            self._threads += 1
            self._per_peer[peer] += 1

    def _give_back(self, peer: str) -> None:
        with self._lock:
            self._calls -= 1
            self._per_peer[peer] -= 1
            if not self._per_peer[peer]:
                del self._per_peer[peer]


class _Once:
    """Calls `action` the first time it is called; later calls do nothing."""

    def __init__(self, action) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._action()
