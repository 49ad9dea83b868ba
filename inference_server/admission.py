"""Who may start an image call, and on which threads it runs.

Image calls (StylizeTiles, Stylize) run on a thread pool of their own, so however many are running,
uploading or unwinding, health checks, ListStyles and admin calls keep the server's other threads.
Three bounds apply, cheapest first:
- `ImageCallGate` (an interceptor, before any thread is taken): at most `max_waiting` image calls may
  wait for an image thread; more get RESOURCE_EXHAUSTED at once.
- `ImageCallSlots` (in the handler): at most `max_calls` image calls at work, at most `max_per_peer`
  from one client address. A call's slot comes back as soon as gRPC sees the call end (cancel,
  deadline), not only once its handler has unwound, which may lag on a loaded machine.
- The image pool's size, twice the slots: room for calls still uploading their request or unwinding.

A unary call's request is read by its handler, not by gRPC beforehand (the gate serves it as a
stream of one message): while it uploads it holds a slot, so one client's slow uploads count against
its own limit, and a request that has not arrived whole within `upload_seconds` ends the call with
DEADLINE_EXCEEDED. (gRPC itself would wait for a trickling request forever, holding an image thread.)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc

from inference_server.errors import CallError, InvalidRequest, ServerBusy
from inference_server.pace import first_message

IMAGE_METHODS = ("/tessera.v1.StyleTransfer/StylizeTiles", "/tessera.v1.StyleTransfer/Stylize")


def peer_host(peer: str) -> str:
    """The client address of a gRPC peer string without its port: 'ipv4:10.0.0.7:5123' -> 'ipv4:10.0.0.7'."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return f"{kind}:{rest.rpartition(':')[0]}"
    return peer


class ImageCallSlots:
    """At most `max_calls` image calls at work, at most `max_per_peer` of them from one client address."""

    def __init__(self, max_calls: int, max_per_peer: int) -> None:
        self.max_calls, self.max_per_peer = max_calls, max_per_peer
        self._lock = threading.Lock()
        self._calls = 0
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

    def _take(self, peer: str) -> None:
        with self._lock:
            if self._calls >= self.max_calls:
                raise ServerBusy(f"the server is busy: {self.max_calls} image calls are running; retry shortly")
            if self._per_peer[peer] >= self.max_per_peer:
                raise ServerBusy(f"the server is busy for this client: it allows {self.max_per_peer} image calls "
                                 f"at once from one address ({peer}); retry when one ends")
            self._calls += 1
            self._per_peer[peer] += 1

    def _give_back(self, peer: str) -> None:
        with self._lock:
            self._calls -= 1
            self._per_peer[peer] -= 1
            if not self._per_peer[peer]:
                del self._per_peer[peer]


class ImagePool(futures.ThreadPoolExecutor):
    """The image calls' own threads; `waiting()` counts submitted calls no thread has started yet."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="image")
        self._waiting = 0
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        with self._count_lock:
            self._waiting += 1

        def started():
            with self._count_lock:
                self._waiting -= 1
            return fn(*args, **kwargs)

        return super().submit(started)

    def waiting(self) -> int:
        with self._count_lock:
            return self._waiting


class ImageCallGate(grpc.ServerInterceptor):
    """Sends image calls to `pool`, or refuses them with RESOURCE_EXHAUSTED before any thread is taken
    when `max_waiting` of them already wait for one of its threads. A unary call's request must arrive
    within `upload_seconds`, while it holds one of `slots`."""

    def __init__(self, pool: ImagePool, max_waiting: int, slots: ImageCallSlots, upload_seconds: float) -> None:
        self._pool, self._max_waiting = pool, max_waiting
        self._slots, self._upload_seconds = slots, upload_seconds

        def busy(request, context):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          "the server is busy: every image thread is taken and calls are waiting; retry shortly")

        self._busy = {False: grpc.unary_unary_rpc_method_handler(busy),
                      True: grpc.stream_stream_rpc_method_handler(busy)}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in IMAGE_METHODS:
            return handler
        if self._pool.waiting() >= self._max_waiting:
            return self._busy[handler.request_streaming]
        return self._on_pool(handler)

    def _on_pool(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The same handler, whose behaviour gRPC runs on the pool (its experimental_thread_pool hook);
        a unary one becomes stream-unary, so its request is read under a time limit."""
        if handler.request_streaming and handler.response_streaming:
            behavior = _pinned(handler.stream_stream, self._pool)
            return grpc.stream_stream_rpc_method_handler(behavior, handler.request_deserializer,
                                                         handler.response_serializer)
        if not handler.request_streaming and not handler.response_streaming:
            behavior = _pinned(self._uploaded_in_time(handler.unary_unary), self._pool)
            return grpc.stream_unary_rpc_method_handler(behavior, handler.request_deserializer,
                                                        handler.response_serializer)
        raise TypeError("image calls are unary-unary or stream-stream")

    def _uploaded_in_time(self, behavior: Callable) -> Callable:
        def run(requests, context):
            try:
                with self._slots.hold(context):
                    request = first_message(requests, self._upload_seconds, "whole request")
                if request is None:
                    raise InvalidRequest("the call ended without its request message")
            except CallError as error:
                context.abort(error.code, error.message)
            return behavior(request, context)

        return run


def _pinned(behavior: Callable, pool: ImagePool) -> Callable:
    def run(request, context):
        return behavior(request, context)

    run.experimental_thread_pool = pool
    return run


class _Once:
    """Calls `action` the first time it is called; later calls do nothing."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._action()
