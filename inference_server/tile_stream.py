"""The StylizeTiles adapter: wire tiles in, engine regions out.

A reader thread takes tiles off the request stream, checks them and hands them to the image's
ImageJob; the handler's generator yields each result as soon as it is ready. At most `max_in_flight`
tiles of a stream are inside the server at once, which bounds its memory however fast the client sends.

A stream holds one of a few image-call slots, so a client that is too slow loses it (ClientTooSlow):
- it sends nothing for `idle_seconds`, or sends less than `min_rate` pixels per second of the time
  the server waits on it with nothing of its in flight, beyond `wait_allowance` seconds (pace.py);
- it reads no result for `read_seconds` while results wait for it (the call is cancelled);
- its tiles cover more pixels than the image its header declared (InvalidRequest).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from inference_server.conditioning import decode_sources
from inference_server.critic_replies import tile_maps
from inference_server.engine import ImageJob, ImageSpec, PendingRegion, check_image
from inference_server.errors import (
    CallCancelled,
    CallError,
    ClientTooSlow,
    InferenceFailed,
    InvalidRequest,
    require_style,
)
from inference_server.pace import Pace, first_message
from inference_server.scaled_job import ScaledJob
from tessera.brush_scale import check_scale
from tessera.settings import setting
from tessera.tiling import Rect
from tessera.v1 import style_transfer_pb2 as pb


@dataclass(frozen=True)
class StreamLimits:
    """Bounds on one image call's size and pace."""

    max_image_pixels: int = setting(200_000_000, "largest image a call may declare, in pixels", minimum=1)
    idle_seconds: float = setting(60.0, "a stream that sends no tile for this long is closed",
                                  flag="--stream-idle-seconds", env="STREAM_IDLE_SECONDS", minimum=0.1)
    min_rate: float = setting(10_000.0, "pixels per second a stream must send while the server waits on it "
                                        "(nothing of it in flight), after its allowance", flag="--stream-min-rate",
                              env="STREAM_MIN_RATE", minimum=0)
    wait_allowance: float = setting(10.0, "seconds the server waits on a stream (and for its header) before "
                                          "--stream-min-rate applies", flag="--stream-wait-allowance",
                                    env="STREAM_WAIT_ALLOWANCE", minimum=0.1)
    unary_upload_seconds: float = setting(60.0, "a unary Stylize request that has not arrived whole within this "
                                                "many seconds is closed (a slow or stalled upload)",
                                          flag="--unary-upload-seconds", env="UNARY_UPLOAD_SECONDS", minimum=0.1)
    read_seconds: float = setting(30.0, "a stream whose client reads no result for this long while results "
                                        "wait is cancelled", flag="--stream-read-seconds", env="STREAM_READ_SECONDS",
                                  minimum=0.1)
    # Tiles of one call inside the server at once: bounds its memory however fast the client sends.
    max_in_flight: int = 8


def image_spec(header: pb.StreamHeader, limits: StreamLimits) -> ImageSpec:
    """The header as an ImageSpec; raises InvalidRequest before any model is touched."""
    strength = header.strength if header.HasField("strength") else 1.0
    check_image(header.image_width, header.image_height, strength, limits.max_image_pixels)
    return ImageSpec(width=header.image_width, height=header.image_height, strength=strength, halo=header.halo,
                     thumbnail=decode_thumbnail(header), sources=decode_sources(header.style_sources),
                     keep_colors=header.keep_colors, explain=header.explain)


def header_scale(header: pb.StreamHeader) -> float:
    """The header's brush scale (1 when unset); InvalidRequest outside (0, 1]."""
    if not header.HasField("scale"):
        return 1.0
    try:
        return check_scale(header.scale)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def decode_thumbnail(header: pb.StreamHeader) -> np.ndarray | None:
    """The header's thumbnail as HxWx3 uint8, or None when it has none."""
    if not header.HasField("thumbnail"):
        return None
    thumb = header.thumbnail
    if thumb.width < 1 or thumb.height < 1:
        raise InvalidRequest(f"the header's thumbnail is {thumb.width}x{thumb.height} pixels: it must be the whole "
                             "image shrunk to at least 1x1 (or left out for a style that needs none)")
    if len(thumb.rgb) != thumb.width * thumb.height * 3:
        raise InvalidRequest(f"thumbnail of {thumb.width}x{thumb.height} needs {thumb.width * thumb.height * 3} "
                             f"bytes of RGB8, got {len(thumb.rgb)}")
    return np.frombuffer(thumb.rgb, dtype=np.uint8).reshape(thumb.height, thumb.width, 3)


def read_header(requests: Iterator[pb.StylizeTilesRequest], limits: StreamLimits) -> pb.StreamHeader:
    """The stream's first message, which must be a header naming a style and arriving within
    `wait_allowance` seconds."""
    first = first_message(requests, limits.wait_allowance, "header")
    if first is None or not first.HasField("header"):
        raise InvalidRequest("the first message of a StylizeTiles stream must be a StreamHeader")
    require_style(first.header.style)
    return first.header


class TileStream:
    """Runs the tiles of one stream through one ImageJob (so one pinned model version), or through a
    ScaledJob (scaled_job.py) with the same interface when the header sets a brush scale.

    `cancel_call` ends the gRPC call from outside, for a client that stopped reading results.
    """

    def __init__(self, job: ImageJob | ScaledJob, limits: StreamLimits, cancel_call: Callable[[], None]) -> None:
        self.job = job
        self._limits = limits
        self._cancel_call = cancel_call
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._slots = threading.Semaphore(limits.max_in_flight)
        self._closed = threading.Event()
        self._pending: dict[int, PendingRegion] = {}
        self._lock = threading.Lock()
        self._pace = Pace(limits.min_rate, limits.wait_allowance)
        self._covered = 0  # core pixels received so far
        self._yielded_at: float | None = None  # when the result gRPC is sending now was handed over

    def cancel(self) -> None:
        """The call ended from outside (client cancelled, deadline, shutdown): stop waiting."""
        self._events.put(("error", CallCancelled("the stream was cancelled")))

    def results(self, requests: Iterator[pb.StylizeTilesRequest]) -> Iterator[pb.TileResult]:
        """Yield one result per tile, as each is ready; raise a CallError on a bad tile, a failed region,
        or a client too slow to keep its slot."""
        threading.Thread(target=self._read, args=(requests,), name="tile-reader", daemon=True).start()
        threading.Thread(target=self._watch_reads, name="read-watch", daemon=True).start()
        submitted, answered, finished = 0, 0, False
        try:
            while not finished or answered < submitted:
                kind, payload = self._next_event()
                if kind == "tile":
                    reply = self._reply(*payload)
                    self._slots.release()
                    answered += 1
                    self._yielded_at = time.monotonic()
                    yield reply
                    self._yielded_at = None
                    self._pace.answered()
                elif kind == "end":
                    finished, submitted = True, payload
                    self._pace.finished()
                else:
                    raise payload
        finally:
            self._close()

    def _close(self) -> None:
        self._closed.set()  # lets a reader blocked on a free slot, and the watcher, give up
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for region in pending:  # queued tiles of an ended stream are not computed
            region.cancel()

    def _read(self, requests: Iterator[pb.StylizeTilesRequest]) -> None:
        count = 0
        try:
            for request in requests:
                index, core, pixels = self._check(request)
                self._pace.arrived(core.width * core.height)
                while not self._slots.acquire(timeout=0.2):
                    if self._closed.is_set():
                        return
                self._submit(index, core, pixels)
                count += 1
        except CallError as error:
            self._events.put(("error", error))
            return
        except grpc.RpcError:
            self.cancel()  # the client went away
            return
        except Exception as exc:  # anything unforeseen must end this stream, not leave it hanging
            self._events.put(("error", InferenceFailed(f"reading the stream failed: {exc}")))
            return
        self._events.put(("end", count))

    def _watch_reads(self) -> None:
        """Cancel the call when gRPC has been stuck sending one result for `read_seconds`: the client
        does not read, and the handler cannot act while its send blocks."""
        while not self._closed.wait(min(0.5, self._limits.read_seconds / 4)):
            since = self._yielded_at
            if since is not None and time.monotonic() - since > self._limits.read_seconds:
                self._events.put(("error", ClientTooSlow(f"the client read no result for "
                                                         f"{self._limits.read_seconds:g} s")))
                self._cancel_call()
                return

    def _next_event(self) -> tuple[str, object]:
        while True:
            left = self._pace.seconds_left()
            try:
                return self._events.get(timeout=max(0.01, min(self._limits.idle_seconds, left)))
            except queue.Empty:
                pass
            if self._pace.seconds_left() <= 0:
                raise ClientTooSlow(self._pace.explain())
            if left >= self._limits.idle_seconds and not self._computing():
                raise ClientTooSlow(f"no tile arrived for {self._limits.idle_seconds:.0f} s; the stream was closed")

    def _computing(self) -> bool:
        """Whether tiles of this stream are inside the server: a slow tile on a loaded machine is
        the server's delay, not the client's idleness."""
        with self._lock:
            return bool(self._pending)

    def _check(self, request: pb.StylizeTilesRequest) -> tuple[int, Rect, np.ndarray]:
        """(index, core, padded pixels) of a tile message, or InvalidRequest naming the tile."""
        if not request.HasField("tile"):
            raise InvalidRequest("only the first message of a stream may be a header; later ones must be tiles")
        tile = request.tile
        core = Rect(tile.x, tile.y, tile.width, tile.height)
        try:
            self.job.check_core(core)
        except InvalidRequest as error:
            raise InvalidRequest(f"tile {tile.index}: {error.message}") from None
        self._covered += core.width * core.height
        if self._covered > self.job.pixels:
            raise InvalidRequest(f"tile {tile.index}: the stream's tiles cover {self._covered:,} pixels, more than "
                                 f"its {self.job.spec.width}x{self.job.spec.height} image has; a stream sends each "
                                 "part of its image once")
        padded = self.job.padded(core)
        expected = padded.width * padded.height * 3
        if len(tile.rgb) != expected:
            raise InvalidRequest(f"tile {tile.index}: its padded area {padded.width}x{padded.height} "
                                 f"(core plus {self.job.halo} px halo) needs {expected} bytes of RGB8, "
                                 f"got {len(tile.rgb)}")
        return tile.index, core, np.frombuffer(tile.rgb, dtype=np.uint8).reshape(padded.height, padded.width, 3)

    def _submit(self, index: int, core: Rect, pixels: np.ndarray) -> None:
        region = self.job.stylize(core, pixels)
        with self._lock:
            if self._closed.is_set():
                region.cancel()
                return
            self._pending[id(region)] = region
        region.add_done_callback(lambda done: self._events.put(("tile", (index, done))))

    def _reply(self, index: int, region: PendingRegion) -> pb.TileResult:
        with self._lock:
            self._pending.pop(id(region), None)
        try:
            styled = region.result()
        except InferenceFailed as error:
            raise InferenceFailed(f"tile {index}: {error.message}", error.trailers) from None
        rect = styled.rect
        result = pb.TileResult(index=index, x=rect.x, y=rect.y, width=rect.width, height=rect.height,
                               rgb=styled.rgb.tobytes())
        if styled.maps is not None:
            result.maps.CopyFrom(tile_maps(styled.maps))
        return result
