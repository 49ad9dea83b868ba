"""How long the server has waited on one stream's client, against what that client has sent.

The server waits on a client when none of the stream's tiles is inside the server (none queued,
running or being sent back) and the client has not ended its stream: any delay then is the
client's. A stream may wait `allowance` seconds in all, plus one second for every `min_rate`
pixels it has sent; beyond that it is too slow to keep its slot. Waiting while the server works
(the client's window is full) never counts, so a busy server does not close its own clients.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc

from inference_server.errors import CallCancelled, ClientTooSlow

Message = TypeVar("Message")


class Pace:
    def __init__(self, min_rate: float, allowance: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_rate, self._allowance, self._clock = min_rate, allowance, clock
        self._lock = threading.Lock()
        self._waited = 0.0
        self._since: float | None = clock()  # the server waits for the first tile from the start
        self._in_server = 0
        self._pixels = 0

    def arrived(self, pixels: int) -> None:
        """A tile of `pixels` core pixels came in."""
        with self._lock:
            self._stop_waiting()
            self._in_server += 1
            self._pixels += pixels

    def answered(self) -> None:
        """A tile's result left the server."""
        with self._lock:
            self._in_server -= 1
            if self._in_server == 0 and self._since is None:
                self._since = self._clock()

    def finished(self) -> None:
        """The client ended its stream: nothing more to wait for."""
        with self._lock:
            self._stop_waiting()
            self._in_server = math.inf  # never waits again

    def seconds_left(self) -> float:
        """Seconds of waiting the stream may still cost; 0 or less means it is too slow."""
        with self._lock:
            return self._budget() - self._total()

    def explain(self) -> str:
        with self._lock:
            return (f"the stream sent {self._pixels:,} pixels while the server waited {self._total():.1f} s for it; "
                    f"after the first {self._allowance:g} s a stream must send at least {self._min_rate:,.0f} pixels "
                    "per second of waiting, so it was closed")

    def _budget(self) -> float:
        return self._allowance + (self._pixels / self._min_rate if self._min_rate > 0 else math.inf)

    def _total(self) -> float:
        return self._waited + (0.0 if self._since is None else self._clock() - self._since)

    def _stop_waiting(self) -> None:
        if self._since is not None:
            self._waited += self._clock() - self._since
            self._since = None


def first_message(requests: Iterator[Message], seconds: float, what: str) -> Message | None:
    """The call's first message, which must arrive whole within `seconds` (None: the client sent none).

    gRPC reads a message on the handler's thread and only the client can end that wait, so the read
    runs on a thread of its own: a client that trickles its message, or stalls, gets ClientTooSlow
    (the handler then ends the call, which ends the read); CallCancelled when the client went away.
    """
    box: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            box.put(next(requests, None))
        except grpc.RpcError:
            box.put(CallCancelled(f"the client went away before its {what} arrived"))

    threading.Thread(target=read, name="first-message", daemon=True).start()
    try:
        first = box.get(timeout=seconds)
    except queue.Empty:
        raise ClientTooSlow(f"no {what} arrived within {seconds:g} s (a message counts once it has arrived whole); "
                            "the call was closed") from None
    if isinstance(first, CallCancelled):
        raise first
    return first
