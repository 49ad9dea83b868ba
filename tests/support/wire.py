"""Recording what a client sends and receives over gRPC, through a client interceptor."""

from __future__ import annotations

import threading

import grpc


class Recorder(grpc.StreamStreamClientInterceptor, grpc.UnaryUnaryClientInterceptor):
    """Keeps every stream request message, and every unary request and reply, that a client sees.

    Pass it to TesseraClient(interceptors=[recorder]).
    """

    def __init__(self) -> None:
        self.requests: list = []
        self.unary: list = []  # (request, reply)
        self._lock = threading.Lock()

    def intercept_stream_stream(self, continuation, details, request_iterator):
        def recorded():
            for request in request_iterator:
                with self._lock:
                    self.requests.append(request)
                yield request
        return continuation(details, recorded())

    def intercept_unary_unary(self, continuation, details, request):
        outcome = continuation(details, request)
        with self._lock:
            self.unary.append((request, outcome.result()))
        return outcome

    def headers(self) -> list:
        return [r.header for r in self.requests if r.HasField("header")]

    def tiles_sent(self) -> int:
        with self._lock:
            return sum(r.HasField("tile") for r in self.requests)
