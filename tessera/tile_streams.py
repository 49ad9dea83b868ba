"""Runs one image's tiles over one or more StylizeTiles streams and gathers the results.

The first stream pins a model version and reports its tiling facts; further streams (spread over
replicas by the channel's round-robin policy) ask for that exact version. When a stream fails with
a transient error, its unanswered tiles move to a new stream: tiles are idempotent. A call whose
server stops answering (nothing back from any stream for `stall_timeout` seconds) fails then, not at
its deadline: a large image that keeps sending results runs as long as its deadline allows.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np

from tessera.canvas import Canvas
from tessera.critic_maps import CriticMaps
from tessera.imageio import statistics_thumbnail
from tessera.style_facts import TilingFacts
from tessera.tile_plan import choose_tile_shape
from tessera.tiling import MAX_THUMBNAIL_SIZE, Rect, min_tile_edge, padded_rect, plan_tiles, tile_size_for
from tessera.unhealthy_trailer import unhealthy_version
from tessera.v1 import style_transfer_pb2 as pb

WINDOW = 5  # tiles outstanding per stream: on a 2-core server, two running, two queued, one on the wire
MAX_REOPENED_STREAMS = 4
RETRY_BACKOFF_S = 0.05  # doubled on every further retry, so a struggling replica is not hammered
# Seconds without any reply (a stream accepted, a tile's result, a stream's end) before a call gives up on
# its server. A tile is planned to take well under a second (tessera.tile_plan.PROGRESS_TILE_PIXELS), so
# this leaves room for a loaded server's queue while a hung one is found within a minute, not at the
# image's deadline (the gateway's is 10 minutes).
STALL_TIMEOUT_S = 60.0
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
             grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED}


# A server that refuses a stream as busy (RESOURCE_EXHAUSTED: too many image calls, or too many from this
# address) is asked again until the call's deadline, in pauses doubling up to this with jitter, rather than
# MAX_REOPENED_STREAMS times: 24 CLI calls at once from one machine, against a server that takes 16 per
# address, had 8 fail after 0.75 s of retries.
BUSY_BACKOFF_MAX_S = 2.0


def _backoff(attempt: int, most: float = 1.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...), at most `most`."""
    return min(most, RETRY_BACKOFF_S * 2 ** (attempt - 1))


@dataclass
class _Retries:
    """How often one run has waited for a busy server and reopened a stream after a transient failure."""

    busy: int = 0
    reopened: int = 0


def _transient(error: grpc.RpcError, reopened: int) -> bool:
    """Whether a failure may pass on another stream, with `reopened` streams reopened so far: not when
    it marked the version unhealthy, which every further stream of this image would meet again."""
    return error.code() in RETRYABLE and reopened < MAX_REOPENED_STREAMS and unhealthy_version(error) is None


def _busy(error: grpc.RpcError) -> bool:
    """Whether the server refused the call as busy, which passes when its other calls end (and not a
    message over gRPC's size limit, the other RESOURCE_EXHAUSTED, which never does)."""
    return error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in (error.details() or "")


class ProtocolError(grpc.RpcError):
    """The server broke the stream protocol (for example, closed with tiles unanswered)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INTERNAL

    def details(self) -> str:
        return self._message


STALLED = "The model server stopped answering"  # how StalledError's message begins


class StalledError(ProtocolError):
    """No reply from the server for the stall timeout: it takes the call but has stopped answering.
    UNAVAILABLE, like a server that is down, since trying again (maybe on another replica) is the remedy."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"{STALLED}: nothing came back for {seconds:g} s. Try again.")

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class _Stream:
    """One StylizeTiles call: a queue feeds its requests, a thread forwards its replies."""

    def __init__(self, stub, header: pb.StreamHeader, deadline: float, events: queue.SimpleQueue) -> None:
        self.pending: dict[int, Rect] = {}
        self.finished = False
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
        """Half-close: no more tiles will follow (the server ends the call once all are answered)."""
        if not self.finished:
            self.finished = True
            self._requests.put(None)

    def cancel(self) -> None:
        self.call.cancel()


class StreamPool:
    """Stylizes one image; `run` returns the assembled image and the version that made it.

    Tiles are cut from the image only when a stream has room for them: each stream has at most
    `window` tiles outstanding (sent, not yet answered), enough to keep its server busy while the
    next tile travels. So the client holds the input, the output and a few tiles, whatever the
    image's size. `tiling` is what the client knows of the style (from ListStyles or an earlier
    stream), or None; it decides whether the header carries a thumbnail, and at what size.
    `refresh_tiling` asks the server for the style's facts again when a stream without a thumbnail
    is refused. `stall_timeout` (seconds, None: none) ends the call with StalledError when no reply
    comes back for that long; the deadline bounds the whole call with DEADLINE_EXCEEDED.
    `context` is the picture the thumbnail is made from (default: the image). `scale` < 1
    asks the server to work at that brush scale (StreamHeader.scale; ProtocolError from a server that
    does not): tiles and results stay at full resolution.
    """

    def __init__(self, stub, pixels: np.ndarray, style: str, strength: float, version: int,
                 deadline: float, parallel_streams: int, tiling: TilingFacts | None = None,
                 refresh_tiling: Callable[[], TilingFacts | None] | None = None, window: int = WINDOW,
                 style_sources: tuple = (), keep_colors: bool = False, context: np.ndarray | None = None,
                 explain: bool = False, scale: float = 1.0, stall_timeout: float | None = STALL_TIMEOUT_S) -> None:
        self._stub = stub
        self._stall_timeout = stall_timeout
        self._pixels = pixels
        self._context = pixels if context is None else np.ascontiguousarray(context)
        self._deadline = deadline
        self._parallel = parallel_streams
        self._window = max(1, window)
        self._refresh_tiling = refresh_tiling
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._streams: list[_Stream] = []
        self._todo: deque[tuple[int, Rect]] = deque()
        self.maps: CriticMaps | None = None  # filled when the header asks to explain
        height, width = pixels.shape[:2]
        self._header = pb.StreamHeader(style=style, version=version, image_width=width, image_height=height,
                                       strength=strength, keep_colors=keep_colors, explain=explain,
                                       style_sources=[source.to_proto() for source in style_sources])
        if scale != 1.0:  # StreamHeader.scale: full-resolution tiles, the server works at the working size
            self._header.scale = scale
        if tiling is None or tiling.needs_thumbnail:
            self._add_thumbnail(tiling.thumbnail_size if tiling and tiling.thumbnail_size else MAX_THUMBNAIL_SIZE)

    def run(self, tile_size: int | None, progress: Callable[[int, int], None] | None
            ) -> tuple[np.ndarray, int, TilingFacts]:
        """The assembled HxWx3 uint8 image, the version that made it, and that version's tiling facts."""
        accepted = self._open_first()
        if self._header.explain:
            if not accepted.HasField("maps"):
                raise ProtocolError("the server accepted a stream that asked to explain without a maps layout")
            self.maps = CriticMaps.empty(accepted.maps)
        if self._header.HasField("scale") and accepted.scale != self._header.scale:
            raise ProtocolError(f"the server ignored StreamHeader.scale (it runs the stream at {accepted.scale:g}): "
                                "it is older than brush scale in StylizeTiles")
        facts = TilingFacts.from_proto(accepted.tiling)
        self._header.version, self._header.halo = accepted.version, facts.halo
        if facts.needs_thumbnail and not self._header.HasField("thumbnail"):
            raise ProtocolError("the server accepted a stream without the thumbnail its style needs")
        height, width = self._pixels.shape[:2]
        cores = plan_tiles(width, height, *self._tile_shape(tile_size, facts))
        self._todo.extend(enumerate(cores))
        canvas = Canvas(width, height, facts.mode)
        streams = self._streams + [self._open() for _ in range(min(self._parallel, len(cores)) - 1)]
        self._prime(streams)
        self._gather(canvas, len(cores), progress)
        return canvas.image(), accepted.version, facts

    def cancel(self) -> None:
        """Cancel every stream still running (after a failure; finished calls ignore it)."""
        for stream in self._streams:
            stream.cancel()

    def _tile_shape(self, tile_size: int | None, facts: TilingFacts) -> tuple[int, int]:
        """A requested square edge (kept within the server's limits and at least the halo), or the planned shape."""
        if tile_size:
            side = tile_size_for(tile_size, facts.size_multiple, facts.max_tile_size,
                                 min_tile_edge(facts.halo, facts.size_multiple))
            return side, side
        height, width = self._pixels.shape[:2]
        return choose_tile_shape(width, height, facts.tile_limits(), streams=self._parallel)

    def _add_thumbnail(self, longest: int) -> None:
        thumb = statistics_thumbnail(self._context, longest)
        self._header.thumbnail.CopyFrom(pb.RawImage(width=thumb.shape[1], height=thumb.shape[0], rgb=thumb.tobytes()))

    def _open(self) -> _Stream:
        stream = _Stream(self._stub, self._header, self._deadline, self._events)
        self._streams.append(stream)
        return stream

    def _open_first(self) -> pb.StreamAccepted:
        """Open streams until one is accepted; transient failures try another replica, and a busy server
        is asked again until the call's deadline (BUSY_BACKOFF_MAX_S)."""
        first, retries = self._open(), _Retries()
        while True:
            stream, event = self._next_event()
            if stream is not first:
                continue
            if isinstance(event, grpc.RpcError):
                pause = self._retry_pause(event, retries, self._may_reopen)
                self._streams.remove(first)
                time.sleep(pause)
                first = self._open()
                continue
            if event is None or not event.HasField("accepted"):
                raise ProtocolError("the server did not accept the stream before sending results")
            return event.accepted

    def _retry_pause(self, error: grpc.RpcError, retries: _Retries,
                     may_reopen: Callable[[grpc.RpcError, int], bool]) -> float:
        """Seconds to wait before trying again after `error`: a busy server's pause while the deadline
        allows (counted in `retries.busy`), else a transient failure's backoff when `may_reopen(error,
        streams reopened so far)` says yes (counted in `retries.reopened`). Raises `error` otherwise."""
        pause = self._busy_pause(error, retries.busy + 1)
        if pause is not None:
            retries.busy += 1
            return pause
        if may_reopen(error, retries.reopened):
            retries.reopened += 1
            return _backoff(retries.reopened)
        raise error

    def _busy_pause(self, error: grpc.RpcError, attempt: int) -> float | None:
        """Seconds to wait before asking a server that refused as busy again (the `attempt`th time), with
        jitter so that refused clients do not come back together; None for another error, or when the
        pause would end past the call's deadline."""
        if not _busy(error):
            return None
        pause = _backoff(attempt, BUSY_BACKOFF_MAX_S) * random.uniform(0.5, 1.0)
        return pause if time.monotonic() + pause < self._deadline else None

    def _may_reopen(self, error: grpc.RpcError, attempts: int) -> bool:
        """Whether a refused first stream is worth another try. A stream sent without a thumbnail
        (its style needed none when last listed) may have met a newer version that needs one: when
        the style's facts, asked again, say so, one retry with a thumbnail covers that swap."""
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT and not self._header.HasField("thumbnail"):
            fresh = self._refresh_tiling() if self._refresh_tiling else None
            if fresh is None or not fresh.needs_thumbnail:
                return False
            self._add_thumbnail(fresh.thumbnail_size or MAX_THUMBNAIL_SIZE)
            return True
        return _transient(error, attempts)

    def _gather(self, canvas: Canvas, total: int, progress: Callable[[int, int], None] | None) -> None:
        """Place results until every tile is in and every stream has closed."""
        done, retries = 0, _Retries()
        open_streams = set(self._streams)
        while done < total or open_streams:
            stream, event = self._next_event()
            if isinstance(event, pb.StylizeTilesResponse):
                if event.HasField("tile"):
                    self._place(canvas, stream, event.tile)
                    self._fill(stream)
                    done += 1
                    if progress is not None:
                        progress(done, total)
                continue
            open_streams.discard(stream)
            if stream.pending:
                error = event if event is not None else ProtocolError(
                    f"the server closed a stream with {len(stream.pending)} tiles unanswered")
                pause = self._retry_pause(error, retries, _transient)
                time.sleep(pause)
                open_streams.add(self._retry(stream))

    def _place(self, canvas: Canvas, stream: _Stream, result: pb.TileResult) -> None:
        core = stream.pending.pop(result.index, None)
        if core is None:
            raise ProtocolError(f"the server answered tile {result.index}, which it was not sent")
        canvas.add(Rect(result.x, result.y, result.width, result.height), result.rgb, core)
        if self.maps is not None:
            if not result.HasField("maps"):
                raise ProtocolError(f"the server answered tile {result.index} without the critic's maps")
            try:
                self.maps.add(result.maps)
            except ValueError as exc:
                raise ProtocolError(str(exc)) from None

    def _prime(self, streams: list[_Stream]) -> None:
        """Deal the first tiles round-robin, so every stream starts with work."""
        for _ in range(self._window):
            for stream in streams:
                if self._todo:
                    self._send(stream, *self._todo.popleft())
        for stream in streams:
            self._fill(stream)

    def _fill(self, stream: _Stream) -> None:
        """Send tiles until the stream's window is full; close its sending side once no work is left."""
        if stream.finished:
            return
        while self._todo and len(stream.pending) < self._window:
            self._send(stream, *self._todo.popleft())
        if not self._todo and not stream.pending:
            stream.finish()

    def _retry(self, failed: _Stream) -> _Stream:
        """Put a failed stream's unanswered tiles first in line, on a new stream."""
        self._todo.extendleft(sorted(failed.pending.items(), reverse=True))
        failed.pending.clear()
        replacement = self._open()
        self._fill(replacement)
        return replacement

    def _send(self, stream: _Stream, index: int, core: Rect) -> None:
        height, width = self._pixels.shape[:2]
        padded = padded_rect(core, self._header.halo, width, height)
        rgb = self._pixels[padded.slices()].tobytes()
        stream.send(index, core, pb.Tile(index=index, x=core.x, y=core.y, width=core.width,
                                         height=core.height, rgb=rgb))

    def _next_event(self) -> tuple[_Stream, object]:
        """The next reply of any stream; StalledError after stall_timeout without one, or
        DEADLINE_EXCEEDED at the call's deadline, whichever comes first."""
        remaining = max(0.0, self._deadline - time.monotonic())
        stalls = self._stall_timeout is not None and self._stall_timeout < remaining
        try:
            return self._events.get(timeout=self._stall_timeout if stalls else remaining)
        except queue.Empty:
            if stalls:
                raise StalledError(self._stall_timeout) from None
            raise _DeadlineExceeded() from None


class _DeadlineExceeded(ProtocolError):
    def __init__(self) -> None:
        super().__init__("the call did not finish before its deadline")

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED
