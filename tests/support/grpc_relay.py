"""A gRPC relay in front of a real inference server that can make its image calls hang or slow: every
call is passed on as raw bytes, but a StylizeTiles or Stylize call is held without a reply (`hang`), or
each of its replies is passed on `delay_s` seconds late (a slow server that keeps making progress)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

_IMAGE_CALLS = ("/StylizeTiles", "/Stylize")


@dataclass
class RelayControls:
    """What the relay does to image calls; change the fields while it runs."""

    hang: bool = False
    delay_s: float = 0.0
    replies: int = 0  # image-call replies passed on so far


class _Relay(grpc.GenericRpcHandler):
    def __init__(self, channel: grpc.Channel, controls: RelayControls) -> None:
        self._channel, self._controls = channel, controls
        self._lock = threading.Lock()

    def service(self, details):
        method = details.method
        if method.endswith("/StylizeTiles"):
            return grpc.stream_stream_rpc_method_handler(lambda requests, context: self._stream(method, requests,
                                                                                                context))
        if method.endswith(_IMAGE_CALLS):
            return grpc.unary_unary_rpc_method_handler(lambda request, context: self._unary_image(method, request,
                                                                                                  context))
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._channel.unary_unary(method)(request, timeout=context.time_remaining()))

    def _stream(self, method: str, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        if self._controls.hang:
            _hold(context)
            return
        for reply in self._channel.stream_stream(method)(requests, timeout=context.time_remaining()):
            time.sleep(self._controls.delay_s)
            with self._lock:
                self._controls.replies += 1
            yield reply

    def _unary_image(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        if self._controls.hang:
            _hold(context)
            return b""
        return self._channel.unary_unary(method)(request, timeout=context.time_remaining())


def _hold(context: grpc.ServicerContext) -> None:
    """Takes the call and answers nothing, until the caller gives up."""
    while context.is_active():
        time.sleep(0.05)


@contextmanager
def relay(target: str) -> Iterator[tuple[str, RelayControls]]:
    """Yields (HOST:PORT of the relay, its controls) while it forwards calls to `target`."""
    controls = RelayControls()
    channel = grpc.insecure_channel(target)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((_Relay(channel, controls),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", controls
    finally:
        server.stop(0).wait()
        channel.close()
