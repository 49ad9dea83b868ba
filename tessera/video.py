"""Restyle a video clip through the inference server: decode, restyle frames with several in flight,
encode at the source's timestamps, copy the audio. Used by the CLI, the gateway's video jobs and the bench.

Every frame is one `TesseraClient.stylize` call (StylizeTiles streams, tiled as for a photo). The first
frame runs alone and pins the model version it got; every later frame asks for that version, so a
clip never mixes two versions even when ops swap models mid-clip. Frames of one shot share their
context statistics (tessera.shots): the stream header's thumbnail is the shot's first frame.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tessera.client import StylizeResult, TesseraClient
from tessera.shots import ShotContext
from tessera.style_sources import StyleSource
from tessera.temporal_filter import TemporalDenoise
from tessera.video_io import ClipLimits, ClipWriter, check_output, open_clip

FRAMES_IN_FLIGHT = 3  # enough to keep a server's cores busy while the client decodes and encodes

FrameHook = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class ClipResult:
    """The encoded clip (`format` 'mp4' or 'webm'), frames and shots restyled, the one model version
    that made every frame, and the wall time in seconds."""

    data: bytes
    format: str
    frames: int
    shots: int
    version: int
    seconds: float

    @property
    def mime_type(self) -> str:
        return f"video/{self.format}"


@dataclass(frozen=True)
class ClipOptions:
    """How to restyle: as for a photo (see TesseraClient.stylize), plus `statistics` ('shot' shares the
    context per shot, 'frame' computes it per frame), `denoise` (temporal noise reduction of the input
    frames before restyling) and how many frames are in flight at once."""

    strength: float = 1.0
    version: int = 0
    style_sources: Sequence[StyleSource] = ()
    keep_colors: bool = False
    statistics: str = "shot"
    denoise: bool = True  # temporal noise reduction of the input frames (tessera.temporal_filter)
    frames_in_flight: int = FRAMES_IN_FLIGHT
    timeout: float | None = None


def stylize_clip(client: TesseraClient, data: bytes, style: str, output: str | None = None,
                 options: ClipOptions = ClipOptions(), limits: ClipLimits | None = None,
                 progress: Callable[[int, int], None] | None = None, on_frame: FrameHook | None = None) -> ClipResult:
    """Restyle the clip in `data` (MP4, MOV, WebM, animated GIF or WebP) and encode it as `output`
    ('mp4' or 'webm'; default: WebM for WebM sources and odd sizes, MP4 otherwise).

    `progress(done, total)` counts frames (total from the header, raised if the clip holds more), from
    this thread; an exception it raises stops the work. `on_frame(index, input, output)` sees each
    frame pair as HxWx3 uint8 before encoding (the decoded input, before any noise reduction; for
    measurements). Raises ClipFormatError or
    ClipTooLargeError before any frame is decoded when the header breaks a limit, TesseraError for a
    server refusal, ValueError for bad options.
    """
    started = time.monotonic()
    clip = open_clip(data, limits or ClipLimits())
    try:
        fmt = output or clip.info.default_output()
        check_output(clip.info, fmt)
        shots = ShotContext(options.statistics)
        writer = ClipWriter(fmt, clip.info, clip.time_base, clip.audio_stream)
        try:
            frames, version = _run(client, clip, style, options, shots, writer, progress, on_frame)
        except BaseException:
            writer.abort()
            raise
        encoded = writer.close()
    finally:
        clip.close()
    return ClipResult(encoded, fmt, frames, shots.shots, version, time.monotonic() - started)


def _run(client: TesseraClient, clip, style: str, options: ClipOptions, shots: ShotContext, writer: ClipWriter,
         progress, on_frame) -> tuple[int, int]:
    """Frames through the server in order, at most `frames_in_flight` at once; returns (frames, version)."""
    total = clip.info.frames
    pending: deque[tuple[int, np.ndarray, int | None, Future]] = deque()
    version, done = options.version, 0
    denoise = TemporalDenoise() if options.denoise else None
    pool = ThreadPoolExecutor(max(1, options.frames_in_flight), thread_name_prefix="tessera-frame")

    def restyle(rgb: np.ndarray, context: np.ndarray, pinned: int) -> StylizeResult:
        return client.stylize(rgb, style, strength=options.strength, version=pinned, timeout=options.timeout,
                              style_sources=options.style_sources, keep_colors=options.keep_colors, context=context)

    def finish_oldest() -> None:
        nonlocal done, total
        index, rgb, pts, future = pending.popleft()
        result = future.result()
        if result.version != version:
            raise RuntimeError(f"frame {index} came from version {result.version}, not the pinned {version}")
        if on_frame is not None:
            on_frame(index, rgb, result.image)
        writer.write_frame(result.image, pts)
        done += 1
        total = max(total, done)
        if progress is not None:
            progress(done, total)

    try:
        index = 0
        for kind, item, pts in clip.items():
            if kind == "audio":
                writer.write_audio(item)
                continue
            clean = denoise(item) if denoise is not None else item
            context = shots.context_for(clean)
            if index == 0:  # alone: its answer names the version every later frame must use
                first = restyle(clean, context, version)
                version = first.version
                pending.append((0, item, pts, _done(first)))
            else:
                pending.append((index, item, pts, pool.submit(restyle, clean, context, version)))
            index += 1
            while len(pending) >= max(1, options.frames_in_flight):
                finish_oldest()
        while pending:
            finish_oldest()
    finally:
        for *_, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    return done, version


def _done(result: StylizeResult) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future
