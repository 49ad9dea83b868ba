"""The StyleTransfer servicer: decodes requests, calls the engine through its two adapters, builds replies."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from inference_server.admission import ImageCallSlots
from inference_server.critic_replies import maps_layout
from inference_server.engine import ImageJob
from inference_server.errors import CallCancelled, CallError
from inference_server.metrics import ServerMetrics
from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.scaled_job import scaled_job
from inference_server.style_info import style_info, tiling_info
from inference_server.tile_stream import StreamLimits, TileStream, header_scale, image_spec, read_header
from inference_server.unary import check_request, decode_request, stylize_decoded
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServicerSettings:
    """What the servicer needs from the server's configuration."""

    limits: StreamLimits
    default_tile_size: int
    slots: ImageCallSlots
    # The largest unary reply the server sends; a client's own receive limit may be lower.
    max_reply_bytes: int


class StyleTransferServicer(pb_grpc.StyleTransferServicer):
    """Image calls take a slot from ``settings.slots``; the server's own RPC cap sits above them, so
    health checks, ListStyles and admin calls still answer at full load."""

    def __init__(self, store: ModelStore, settings: ServicerSettings, metrics: ServerMetrics) -> None:
        self._store = store
        self._settings = settings
        self._limits = settings.limits
        self._metrics = metrics

    def ListStyles(self, request: pb.ListStylesRequest, context: grpc.ServicerContext) -> pb.ListStylesResponse:
        previews = not request.HasField("include_previews") or request.include_previews
        styles = [style_info(s, self._settings.default_tile_size, previews) for s in self._store.styles()]
        self._metrics.requests.labels("ListStyles", "", "", "OK").inc()
        return pb.ListStylesResponse(styles=styles)

    def StylizeTiles(self, request_iterator: Iterator[pb.StylizeTilesRequest],
                     context: grpc.ServicerContext) -> Iterator[pb.StylizeTilesResponse]:
        style = ""
        with self._metrics.image_calls.track_inprogress(), \
                self._observed("StylizeTiles", lambda: style, context) as served, self._settings.slots.hold(context):
            # The slot comes first: a client that opens streams and sends no header holds a slot, which
            # its pace and the per-client limit bound, and never a thread the control calls need.
            header = read_header(request_iterator, self._limits)
            style = header.style
            spec = image_spec(header, self._limits)
            scale = header_scale(header)
            with self._store.lease(header.style, header.version) as model:
                served["version"] = str(model.version)
                job = ImageJob(model, spec) if scale == 1.0 else scaled_job(model, spec, scale)
                stream = TileStream(job, self._limits, context.cancel)
                context.add_callback(stream.cancel)
                accepted = pb.StreamAccepted(style=model.style, version=model.version, scale=scale,
                                             tiling=tiling_info(model, self._settings.default_tile_size, job.halo,
                                                                 job.multiple, job.tile_limits))
                if spec.explain:
                    accepted.maps.CopyFrom(maps_layout(model.critic, spec.width, spec.height))
                yield pb.StylizeTilesResponse(accepted=accepted)
                yield from self._counted_tiles(header.style, stream.results(request_iterator))

    def Stylize(self, request: pb.StylizeRequest, context: grpc.ServicerContext) -> pb.StylizeResponse:
        ended = threading.Event()
        context.add_callback(ended.set)
        reply = None
        with self._metrics.image_calls.track_inprogress(), \
                self._observed("Stylize", lambda: request.style, context) as served:
            check_request(request)
            with self._settings.slots.hold(context):
                if ended.is_set() or not context.is_active():  # it waited for a thread past its deadline
                    raise CallCancelled("the call ended before its image was decoded")
                decoded = decode_request(request, self._limits.max_image_pixels, self._settings.max_reply_bytes)
                with self._store.lease(request.style, request.version) as model:
                    served["version"] = str(model.version)
                    reply = stylize_decoded(model, decoded, self._settings.default_tile_size,
                                            self._limits.max_in_flight, ended)
        return reply

    def _counted_tiles(self, style: str, results: Iterator[pb.TileResult]) -> Iterator[pb.StylizeTilesResponse]:
        tiles = self._metrics.tiles.labels(style, "OK")
        try:
            for result in results:
                tiles.inc()
                yield pb.StylizeTilesResponse(tile=result)
        except CallError as error:
            self._metrics.tiles.labels(style, error.code.name).inc()
            raise

    @contextmanager
    def _observed(self, method: str, style: Callable[[], str], context: grpc.ServicerContext):
        """Count and time a call, and turn the domain's errors into gRPC statuses. The block may set
        the yielded dict's "version" to the model version that served it."""
        started, code, message, trailers = time.perf_counter(), grpc.StatusCode.OK, "", ()
        served = {"version": ""}
        try:
            yield served
        except CallError as error:
            code, message, trailers = error.code, error.message, error.trailers
        except StyleNotFound as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except StyleUnavailable as exc:
            code, message = grpc.StatusCode.UNAVAILABLE, str(exc)
        except GeneratorExit:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:  # a bug: count it under the status the client gets, never as OK
            log.exception("%s failed", method)
            code, message = grpc.StatusCode.INTERNAL, "internal error; the server's log has the details"
        finally:
            if code == grpc.StatusCode.CANCELLED or not context.is_active():
                code = _ended_code(context, code)
            # Only ids the server holds become labels: a listed style's, or that of the version that served
            # the call (a removed style's draining version is listed no more).
            label = style() if served["version"] or style() in {s.meta.id for s in self._store.styles()} else ""
            self._metrics.requests.labels(method, label, served["version"], code.name).inc()
            self._metrics.latency.labels(method, label).observe(time.perf_counter() - started)
        if code != grpc.StatusCode.OK:
            if trailers:
                context.set_trailing_metadata(trailers)
            context.abort(code, message)


def _ended_code(context: grpc.ServicerContext, code: grpc.StatusCode) -> grpc.StatusCode:
    """A call that ended from outside counts as DEADLINE_EXCEEDED when its deadline passed, else CANCELLED."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED if code in (grpc.StatusCode.OK, CallCancelled.code) else code
