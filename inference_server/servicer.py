"""The StyleTransfer servicer: decodes requests, calls the plain functions, builds replies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from inference_server.metrics import ServerMetrics
from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.style_info import style_info
from inference_server.tile_session import StreamAbort, StreamLimits, TileSession, check_header, tiling_info
from inference_server.unary import stylize_image
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc


class StyleTransferServicer(pb_grpc.StyleTransferServicer):
    """``max_image_calls`` caps the StylizeTiles and Stylize calls running at once; the server's own
    RPC cap sits above it, so health checks, ListStyles and admin calls still answer at full load."""

    def __init__(self, store: ModelStore, limits: StreamLimits, metrics: ServerMetrics,
                 max_image_calls: int = 32) -> None:
        self._store = store
        self._limits = limits
        self._metrics = metrics
        self._max_image_calls = max_image_calls
        self._image_calls = threading.BoundedSemaphore(max_image_calls)

    def ListStyles(self, request: pb.ListStylesRequest, context: grpc.ServicerContext) -> pb.ListStylesResponse:
        styles = [style_info(s, self._limits.default_tile_size) for s in self._store.styles()]
        self._metrics.requests.labels("ListStyles", "", "OK").inc()
        return pb.ListStylesResponse(styles=styles)

    def StylizeTiles(self, request_iterator: Iterator[pb.StylizeTilesRequest],
                     context: grpc.ServicerContext) -> Iterator[pb.StylizeTilesResponse]:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            self._metrics.requests.labels("StylizeTiles", "", "INVALID_ARGUMENT").inc()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "the first message of a StylizeTiles stream must be a StreamHeader")
        header = first.header
        with self._observed("StylizeTiles", header.style, context), self._image_call_slot(context):
            check_header(header, self._limits)
            with self._store.lease(header.style, header.version) as model:
                session = TileSession(model, header, self._limits)
                context.add_callback(session.cancel)
                yield pb.StylizeTilesResponse(accepted=pb.StreamAccepted(
                    style=model.style, version=model.version,
                    tiling=tiling_info(model, self._limits.default_tile_size)))
                tiles = self._metrics.tiles.labels(header.style, "OK")
                try:
                    for reply in session.results(request_iterator):
                        tiles.inc()
                        yield reply
                except StreamAbort as abort:
                    self._metrics.tiles.labels(header.style, abort.code.name).inc()
                    raise

    def Stylize(self, request: pb.StylizeRequest, context: grpc.ServicerContext) -> pb.StylizeResponse:
        with self._observed("Stylize", request.style, context), self._image_call_slot(context):
            with self._store.lease(request.style, request.version) as model:
                return stylize_image(model, request, self._limits)

    @contextmanager
    def _image_call_slot(self, context: grpc.ServicerContext):
        """One of the ``max_image_calls`` slots for the duration of a call, or RESOURCE_EXHAUSTED at once.

        The slot also comes back as soon as gRPC sees the call end (a client cancelling, a deadline),
        not only once the handler's thread has unwound, which may lag on a loaded machine.
        """
        if not self._image_calls.acquire(blocking=False):
            raise StreamAbort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"the server is busy: {self._max_image_calls} image calls are running; retry shortly")
        slot = _HeldSlot(self._image_calls)
        context.add_callback(slot.release)
        try:
            yield
        finally:
            slot.release()

    @contextmanager
    def _observed(self, method: str, style: str, context: grpc.ServicerContext):
        """Count and time a call, and turn the domain's errors into gRPC statuses."""
        started, code, message = time.perf_counter(), grpc.StatusCode.OK, ""
        try:
            yield
        except StreamAbort as abort:
            code, message = abort.code, abort.message
        except StyleNotFound as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except StyleUnavailable as exc:
            code, message = grpc.StatusCode.UNAVAILABLE, str(exc)
        except GeneratorExit:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            label = style if style in {s.meta.id for s in self._store.styles()} else ""
            self._metrics.requests.labels(method, label, code.name).inc()
            self._metrics.latency.labels(method, label).observe(time.perf_counter() - started)
        if code != grpc.StatusCode.OK:
            context.abort(code, message)


class _HeldSlot:
    """A slot taken from a semaphore; the first ``release`` gives it back, later ones do nothing."""

    def __init__(self, semaphore: threading.BoundedSemaphore):
        self._semaphore = semaphore
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._semaphore.release()
