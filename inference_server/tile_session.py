"""The work of one StylizeTiles stream, as plain functions and one small class.

A reader thread takes tiles off the request stream, checks them and queues them for inference;
the handler's generator yields each result as soon as it is ready. At most `max_in_flight` tiles
of a stream are inside the server at once, which bounds its memory however fast the client sends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from inference_server.model_version import LoadedVersion
from tessera.pixels import blend_to_rgb8
from tessera.tiling import MAX_HALO, MAX_TILE_SIZE, Rect, core_error, crop_core, halo_for, padded_rect
from tessera.v1 import style_transfer_pb2 as pb


class StreamAbort(Exception):
    """Ends a stream with `code` and a message for the client."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StreamLimits:
    max_image_pixels: int = 200_000_000
    max_in_flight: int = 8
    default_tile_size: int = 512
    idle_seconds: float = 60.0


def decode_thumbnail(header: pb.StreamHeader) -> np.ndarray | None:
    """The header's thumbnail as HxWx3 uint8, or None when it has none."""
    if not header.HasField("thumbnail"):
        return None
    thumb = header.thumbnail
    if thumb.width < 1 or thumb.height < 1 or len(thumb.rgb) != thumb.width * thumb.height * 3:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"thumbnail of {thumb.width}x{thumb.height} needs {thumb.width * thumb.height * 3} "
                          f"bytes of RGB8, got {len(thumb.rgb)}")
    return np.frombuffer(thumb.rgb, dtype=np.uint8).reshape(thumb.height, thumb.width, 3)


def check_header(header: pb.StreamHeader, limits: StreamLimits) -> None:
    """Reject a header whose image size or strength is unusable, before any model is touched."""
    if header.image_width < 1 or header.image_height < 1:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"image size {header.image_width}x{header.image_height} must be at least 1x1")
    pixels = header.image_width * header.image_height
    if pixels > limits.max_image_pixels:
        # INVALID_ARGUMENT, not RESOURCE_EXHAUSTED: resending the same image can never succeed, and
        # clients retry RESOURCE_EXHAUSTED (the server is busy) with backoff.
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"a {header.image_width}x{header.image_height} image ({pixels:,} pixels) exceeds the "
                          f"server's limit of {limits.max_image_pixels:,} pixels")
    if header.HasField("strength") and not 0.0 <= header.strength <= 1.0:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT, f"strength must be in [0, 1], got {header.strength}")


def tiling_info(model: LoadedVersion, default_tile_size: int) -> pb.TilingInfo:
    tiling = model.tiling
    return pb.TilingInfo(
        halo=halo_for(tiling.halo, tiling.size_multiple),
        size_multiple=tiling.size_multiple,
        default_tile_size=default_tile_size,
        max_tile_size=MAX_TILE_SIZE,
        mode=pb.TILING_MODE_FEATHER if tiling.mode == "feather" else pb.TILING_MODE_CROP,
        needs_thumbnail=tiling.needs_thumbnail,
        thumbnail_size=tiling.thumbnail_size,
    )


class TileSession:
    """Runs the tiles of one stream on one pinned model version."""

    def __init__(self, model: LoadedVersion, header: pb.StreamHeader, limits: StreamLimits) -> None:
        self.model = model
        self.width, self.height = header.image_width, header.image_height
        self.strength = header.strength if header.HasField("strength") else 1.0
        required = halo_for(model.tiling.halo, model.tiling.size_multiple)
        self.halo = header.halo or required
        if self.halo < required:
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"halo {header.halo} is smaller than the {required} px that style "
                              f"{model.style} version {model.version} needs")
        if self.halo > max(MAX_HALO, required):
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"halo {header.halo} exceeds the largest halo the server accepts, {MAX_HALO} px")
        thumbnail = decode_thumbnail(header)
        if model.tiling.needs_thumbnail and thumbnail is None:
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"style {model.style} needs a thumbnail of the whole image in the header")
        self.context = model.compute_context(thumbnail)
        self._limits = limits
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._slots = threading.Semaphore(limits.max_in_flight)
        self._closed = threading.Event()

    def cancel(self) -> None:
        """The call ended from outside (client cancelled, deadline, shutdown): stop waiting."""
        self._events.put(("error", StreamAbort(grpc.StatusCode.CANCELLED, "the stream was cancelled")))

    def results(self, requests: Iterator[pb.StylizeTilesRequest]) -> Iterator[pb.StylizeTilesResponse]:
        """Yield one response per tile, as each is ready; raise StreamAbort on a bad tile, or when no
        tile arrives for `idle_seconds`."""
        threading.Thread(target=self._read, args=(requests,), daemon=True).start()
        submitted, answered, finished = 0, 0, False
        try:
            while not finished or answered < submitted:
                kind, payload = self._next_event()
                if kind == "tile":
                    self._slots.release()
                    answered += 1
                    yield pb.StylizeTilesResponse(tile=self._finish(*payload))
                elif kind == "end":
                    finished, submitted = True, payload
                else:
                    raise payload
        finally:
            self._closed.set()  # lets a reader blocked on a free slot give up

    def _read(self, requests: Iterator[pb.StylizeTilesRequest]) -> None:
        count = 0
        try:
            for request in requests:
                tile = self._check(request)
                while not self._slots.acquire(timeout=0.2):
                    if self._closed.is_set():
                        return
                self._submit(tile)
                count += 1
        except StreamAbort as abort:
            self._events.put(("error", abort))
            return
        except grpc.RpcError:
            self.cancel()  # the client went away
            return
        except Exception as exc:  # anything unforeseen must end this stream, not leave it hanging
            self._events.put(("error", StreamAbort(grpc.StatusCode.INTERNAL, f"reading the stream failed: {exc}")))
            return
        self._events.put(("end", count))

    def _next_event(self) -> tuple[str, object]:
        try:
            return self._events.get(timeout=self._limits.idle_seconds)
        except queue.Empty:
            raise StreamAbort(grpc.StatusCode.DEADLINE_EXCEEDED,
                              f"no tile arrived for {self._limits.idle_seconds:.0f} s; the stream was closed") from None

    def _check(self, request: pb.StylizeTilesRequest) -> pb.Tile:
        if not request.HasField("tile"):
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                              "only the first message of a stream may be a header; later ones must be tiles")
        tile = request.tile
        core = Rect(tile.x, tile.y, tile.width, tile.height)
        problem = core_error(core, self.width, self.height)
        if problem:
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT, f"tile {tile.index}: {problem}")
        padded = padded_rect(core, self.halo, self.width, self.height)
        expected = padded.width * padded.height * 3
        if len(tile.rgb) != expected:
            raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"tile {tile.index}: its padded area {padded.width}x{padded.height} "
                              f"(core plus {self.halo} px halo) needs {expected} bytes of RGB8, got {len(tile.rgb)}")
        return tile

    def _submit(self, tile: pb.Tile) -> None:
        core = Rect(tile.x, tile.y, tile.width, tile.height)
        padded = padded_rect(core, self.halo, self.width, self.height)
        pixels = np.frombuffer(tile.rgb, dtype=np.uint8).reshape(padded.height, padded.width, 3)
        future = self.model.infer(pixels, self.context)
        future.add_done_callback(lambda f: self._events.put(self._outcome(f, tile.index, core, padded, pixels)))

    def _outcome(self, future, index: int, core: Rect, padded: Rect, pixels: np.ndarray) -> tuple:
        error = future.exception()
        if error is not None:
            return "error", StreamAbort(grpc.StatusCode.INTERNAL, f"tile {index}: inference failed: {error}")
        return "tile", (future.result(), index, core, padded, pixels)

    def _finish(self, output: np.ndarray, index: int, core: Rect, padded: Rect,
                pixels: np.ndarray) -> pb.TileResult:
        output = output[:, :padded.height, :padded.width]
        if self.model.tiling.mode == "feather":
            rect, styled, original = padded, output, pixels
        else:
            rect = core
            styled = crop_core(output.transpose(1, 2, 0), core, padded).transpose(2, 0, 1)
            original = crop_core(pixels, core, padded)
        rgb = blend_to_rgb8(styled, original, self.strength)
        return pb.TileResult(index=index, x=rect.x, y=rect.y, width=rect.width, height=rect.height,
                             rgb=rgb.tobytes())
