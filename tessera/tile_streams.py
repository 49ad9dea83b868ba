"""Runs one image's tiles over one or more StylizeTiles streams and gathers the results.

The first stream pins a model version and reports its tiling facts; further streams (spread over
replicas by the channel's round-robin policy) ask for that exact version. When a stream fails with
a transient error, its unanswered tiles move to a new stream: tiles are idempotent.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import grpc
import numpy as np

from tessera.canvas import Canvas
from tessera.imageio import make_thumbnail
from tessera.style_facts import TilingFacts
from tessera.tiling import MAX_TILE_SIZE, Rect, padded_rect, plan_tiles, tile_size_for
from tessera.v1 import style_transfer_pb2 as pb

THUMBNAIL_SIZE = 512
MAX_REOPENED_STREAMS = 4
RETRY_BACKOFF_S = 0.05  # doubled on every further retry, so a struggling replica is not hammered
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
             grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...)."""
    return min(1.0, RETRY_BACKOFF_S * 2 ** (attempt - 1))


class ProtocolError(grpc.RpcError):
    """The server broke the stream protocol (for example, closed with tiles unanswered)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INTERNAL

    def details(self) -> str:
        return self._message


class _Stream:
    """One StylizeTiles call: a queue feeds its requests, a thread forwards its replies."""

    def __init__(self, stub, header: pb.StreamHeader, deadline: float, events: queue.SimpleQueue) -> None:
        self.pending: dict[int, Rect] = {}
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._requests.put(pb.StylizeTilesRequest(header=header))
        timeout = max(0.001, deadline - time.monotonic())
        self.call = stub.StylizeTiles(iter(self._requests.get, None), timeout=timeout)
        threading.Thread(target=self._forward, args=(events,), daemon=True).start()

    def _forward(self, events: queue.SimpleQueue) -> None:
        try:
            for reply in self.call:
                events.put((self, reply))
            events.put((self, None))
        except grpc.RpcError as error:
            events.put((self, error))

    def send(self, index: int, core: Rect, tile: pb.Tile) -> None:
        self.pending[index] = core
        self._requests.put(pb.StylizeTilesRequest(tile=tile))

    def finish(self) -> None:
        self._requests.put(None)

    def cancel(self) -> None:
        self.call.cancel()


class StreamPool:
    """Stylizes one image; `run` returns the assembled image and the version that made it."""

    def __init__(self, stub, pixels: np.ndarray, style: str, strength: float, version: int,
                 deadline: float, parallel_streams: int, style_sources: tuple = (), keep_colors: bool = False) -> None:
        self._stub = stub
        self._pixels = pixels
        self._deadline = deadline
        self._parallel = parallel_streams
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._streams: list[_Stream] = []
        height, width = pixels.shape[:2]
        thumb = make_thumbnail(pixels, THUMBNAIL_SIZE)
        self._header = pb.StreamHeader(
            style=style, version=version, image_width=width, image_height=height, strength=strength,
            thumbnail=pb.RawImage(width=thumb.shape[1], height=thumb.shape[0], rgb=thumb.tobytes()),
            style_sources=[source.to_proto() for source in style_sources], keep_colors=keep_colors,
        )

    def run(self, tile_size: int | None, progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, int]:
        accepted = self._open_first()
        tiling = accepted.tiling
        self._header.version, self._header.halo = accepted.version, tiling.halo
        height, width = self._pixels.shape[:2]
        size = tile_size_for(tile_size or tiling.default_tile_size, max(1, tiling.size_multiple),
                             tiling.max_tile_size or MAX_TILE_SIZE)
        cores = plan_tiles(width, height, size)
        canvas = Canvas(width, height, TilingFacts.from_proto(tiling).mode)
        streams = self._streams + [self._open() for _ in range(min(self._parallel, len(cores)) - 1)]
        for index, core in enumerate(cores):
            self._send(streams[index % len(streams)], index, core)
        for stream in streams:
            stream.finish()
        self._gather(canvas, len(cores), progress)
        return canvas.image(), accepted.version

    def cancel(self) -> None:
        """Cancel every stream still running (after a failure; finished calls ignore it)."""
        for stream in self._streams:
            stream.cancel()

    def _open(self) -> _Stream:
        stream = _Stream(self._stub, self._header, self._deadline, self._events)
        self._streams.append(stream)
        return stream

    def _open_first(self) -> pb.StreamAccepted:
        """Open streams until one is accepted; transient failures try another replica."""
        first, attempts = self._open(), 0
        while True:
            stream, event = self._next_event()
            if stream is not first:
                continue
            if isinstance(event, grpc.RpcError):
                if event.code() not in RETRYABLE or attempts >= MAX_REOPENED_STREAMS:
                    raise event
                self._streams.remove(first)
                attempts += 1
                time.sleep(_backoff(attempts))
                first = self._open()
                continue
            if event is None or not event.HasField("accepted"):
                raise ProtocolError("the server did not accept the stream before sending results")
            return event.accepted

    def _gather(self, canvas: Canvas, total: int, progress: Callable[[int, int], None] | None) -> None:
        """Place results until every tile is in and every stream has closed."""
        done, reopened = 0, 0
        open_streams = set(self._streams)
        while done < total or open_streams:
            stream, event = self._next_event()
            if isinstance(event, pb.StylizeTilesResponse):
                if event.HasField("tile"):
                    self._place(canvas, stream, event.tile)
                    done += 1
                    if progress is not None:
                        progress(done, total)
                continue
            open_streams.discard(stream)
            if stream.pending:
                error = event if event is not None else ProtocolError(
                    f"the server closed a stream with {len(stream.pending)} tiles unanswered")
                if error.code() not in RETRYABLE or reopened >= MAX_REOPENED_STREAMS:
                    raise error
                reopened += 1
                time.sleep(_backoff(reopened))
                open_streams.add(self._retry(stream))

    def _place(self, canvas: Canvas, stream: _Stream, result: pb.TileResult) -> None:
        core = stream.pending.pop(result.index, None)
        if core is None:
            raise ProtocolError(f"the server answered tile {result.index}, which it was not sent")
        canvas.add(Rect(result.x, result.y, result.width, result.height), result.rgb, core)

    def _retry(self, failed: _Stream) -> _Stream:
        replacement = self._open()
        for index, core in sorted(failed.pending.items()):
            self._send(replacement, index, core)
        failed.pending.clear()
        replacement.finish()
        return replacement

    def _send(self, stream: _Stream, index: int, core: Rect) -> None:
        height, width = self._pixels.shape[:2]
        padded = padded_rect(core, self._header.halo, width, height)
        rgb = self._pixels[padded.slices()].tobytes()
        stream.send(index, core, pb.Tile(index=index, x=core.x, y=core.y, width=core.width,
                                         height=core.height, rgb=rgb))

    def _next_event(self) -> tuple[_Stream, object]:
        remaining = self._deadline - time.monotonic()
        try:
            return self._events.get(timeout=max(0.0, remaining))
        except queue.Empty:
            raise _DeadlineExceeded() from None


class _DeadlineExceeded(ProtocolError):
    def __init__(self) -> None:
        super().__init__("the call did not finish before its deadline")

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED
