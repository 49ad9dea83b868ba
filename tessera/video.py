"""Restyle a video clip through the inference server: decode, restyle frames with several in flight,
blend each with the previous one along the optical flow, encode at the source's timestamps, copy the
audio (or encode it anew where the output cannot hold it: tessera.video_io.audio_handling). Used by the
CLI, the gateway's video jobs and the bench.

Every frame is one `TesseraClient.stylize` call (StylizeTiles streams, tiled as for a photo). The first
frame runs alone and pins the model version it got; every later frame asks for that version, so a
clip never mixes two versions even when ops swap models mid-clip. Frames of one shot share their
context statistics (tessera.shots): the stream header's thumbnail is the shot's first frame.

Two threads of this process share the work so that the server never waits for it: a feeder decodes,
filters noise, picks each frame's context and submits it (at most `frames_in_flight` at once), and the
caller's thread takes the results in order, blends them (tessera.temporal_blend) and encodes them.
A bounded queue between the two holds the frames in flight and a few decoded ahead.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tessera.client import StylizeResult, TesseraClient
from tessera.clip_defaults import FRAMES_IN_FLIGHT
from tessera.number_checks import fraction, optional_seconds, whole_number
from tessera.shots import ShotContext
from tessera.style_sources import StyleSource
from tessera.temporal_blend import WEIGHT, TemporalBlend
from tessera.temporal_filter import TemporalDenoise
from tessera.video_io import ClipLimits, ClipWriter, audio_note, check_output, open_clip

READ_AHEAD = 2  # frames decoded and waiting beyond those in flight (the queue's bound is the sum)

FrameHook = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class ClipResult:
    """The encoded clip (`format` 'mp4' or 'webm'), frames and shots restyled, the one model version
    that made every frame, the wall time in seconds, and `audio_note`, a clause for a person when the
    audio was encoded anew ("its AAC audio is encoded anew as Opus, since WebM cannot hold AAC"; '' when
    it was copied unchanged or there is none)."""

    data: bytes
    format: str
    frames: int
    shots: int
    version: int
    seconds: float
    audio_note: str = ""

    @property
    def mime_type(self) -> str:
        return f"video/{self.format}"


@dataclass(frozen=True)
class ClipOptions:
    """How to restyle: as for a photo (see TesseraClient.stylize), plus `statistics` ('shot' shares the
    context per shot, 'frame' computes it per frame), `denoise` (temporal noise reduction of the input
    frames before restyling), `temporal_blend` (the largest share, in [0, 1), of the previous output
    frame warped by the input's optical flow in each output frame, lengthened on still pixels up to
    tessera.temporal_blend.LONGEST where the network repaints them by more than half a level a frame; 0
    turns the blending off; tessera.temporal_blend) and how many frames are in flight at once."""

    strength: float = 1.0
    version: int = 0
    style_sources: Sequence[StyleSource] = ()
    keep_colors: bool = False
    statistics: str = "shot"
    denoise: bool = True  # temporal noise reduction of the input frames (tessera.temporal_filter)
    temporal_blend: float = WEIGHT
    frames_in_flight: int = FRAMES_IN_FLIGHT
    timeout: float | None = None

    def __post_init__(self) -> None:
        """ValueError, before any frame is decoded, for an option that is not a number in range."""
        fraction("strength", self.strength)
        whole_number("version", self.version, 0)
        whole_number("frames_in_flight", self.frames_in_flight, 1)
        optional_seconds("timeout", self.timeout)  # the blend weight: TemporalBlend, also before any frame


@dataclass
class _Frame:
    index: int
    decoded: np.ndarray  # as decoded, for on_frame
    seen: np.ndarray  # what the network gets (after noise reduction)
    pts: int | None
    cut: bool  # first frame of a shot
    future: Future


def stylize_clip(client: TesseraClient, data: bytes, style: str, output: str | None = None,
                 options: ClipOptions = ClipOptions(), limits: ClipLimits | None = None,
                 progress: Callable[[int, int], None] | None = None, on_frame: FrameHook | None = None) -> ClipResult:
    """Restyle the clip in `data` (MP4, MOV, WebM, animated GIF, WebP or PNG) and encode it as `output`
    ('mp4' or 'webm'; default: WebM for WebM sources and odd sizes, MP4 otherwise; see
    ClipInfo.default_output). Audio the output cannot hold unchanged is encoded anew (AAC in MP4, Opus in
    WebM; ClipResult.audio_note says so).

    `progress(done, total)` counts frames restyled and encoded, from this thread: `total` is the header's
    estimate while frames come (raised if the clip holds more), and the last call's `total` is the number
    of frames the clip held (a call `progress(done, done)` corrects an estimate at the end); an exception
    it raises stops the work. `on_frame(index, input, output)` sees each frame pair as HxWx3 uint8
    before encoding (the decoded input, before any noise reduction, and the output as encoded, after
    blending; for measurements). Raises ClipFormatError or
    ClipTooLargeError before any frame is decoded when the header breaks a limit, TesseraError for a
    server refusal, ValueError for bad options (a blend weight outside [0, 1)).
    """
    started = time.monotonic()
    blend = TemporalBlend(options.temporal_blend) if options.temporal_blend else None  # checks the weight
    clip = open_clip(data, limits or ClipLimits())
    try:
        fmt = output or clip.info.default_output()
        check_output(clip.info, fmt)
        note = audio_note(clip.info, fmt)
        shots = ShotContext(options.statistics)
        writer = ClipWriter(fmt, clip.info, clip.time_base, clip.audio_stream)
        try:
            frames, version = _run(client, clip, style, options, shots, blend, writer, progress, on_frame)
            encoded = writer.close()  # flushes the source's audio decoder and the encoders: may fail too
        except BaseException:
            writer.abort()
            raise
    finally:
        clip.close()
    return ClipResult(encoded, fmt, frames, shots.shots, version, time.monotonic() - started, note)


class _Stopped(Exception):
    """The caller's side gave up; the feeder leaves quietly."""


class _Feeder:
    """Decodes, filters and submits frames on its own thread; hands ('audio', packet), ('video', _Frame),
    ('error', exception) and ('end', None) to the caller's thread in clip order."""

    def __init__(self, client: TesseraClient, clip, style: str, options: ClipOptions, shots: ShotContext) -> None:
        self._client, self._clip, self._style, self._options, self._shots = client, clip, style, options, shots
        in_flight = options.frames_in_flight
        self.items: queue.Queue = queue.Queue(in_flight + READ_AHEAD)
        self._slots = threading.Semaphore(in_flight)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="tessera-frame")
        self.version = options.version
        self._thread = threading.Thread(target=self._feed, name="tessera-clip-feeder", daemon=True)
        self._thread.start()

    def _restyle(self, rgb: np.ndarray, context: np.ndarray) -> StylizeResult:
        o = self._options
        return self._client.stylize(rgb, self._style, strength=o.strength, version=self.version, timeout=o.timeout,
                                    style_sources=o.style_sources, keep_colors=o.keep_colors, context=context)

    def _put(self, item: tuple) -> None:
        while not self._stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _take_slot(self) -> None:
        while not self._slots.acquire(timeout=0.1):
            if self._stop.is_set():
                raise _Stopped

    def _feed(self) -> None:
        denoise = TemporalDenoise() if self._options.denoise else None
        try:
            index = 0
            for kind, item, pts in self._clip.items():
                if kind == "audio":
                    self._put(("audio", item))
                    continue
                seen = denoise(item) if denoise is not None else item
                shots_before = self._shots.shots
                context = self._shots.context_for(seen)
                self._take_slot()
                if self._stop.is_set():
                    raise _Stopped
                if index == 0:  # alone: its answer names the version every later frame must use
                    future = self._pool.submit(self._restyle, seen, context)
                    self.version = future.result().version
                else:
                    future = self._pool.submit(self._restyle, seen, context)
                future.add_done_callback(lambda _: self._slots.release())
                self._put(("video", _Frame(index, item, seen, pts, self._shots.shots != shots_before, future)))
                index += 1
            self._put(("end", None))
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, which raises it
            try:
                self._put(("error", error))
            except _Stopped:
                pass

    def stop(self) -> None:
        """Stops feeding, cancels frames not started, waits for those running and for the feeder."""
        self._stop.set()
        while True:
            try:
                kind, item = self.items.get_nowait()
            except queue.Empty:
                break
            if kind == "video":
                item.future.cancel()
        self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _run(client: TesseraClient, clip, style: str, options: ClipOptions, shots: ShotContext,
         blend: TemporalBlend | None, writer: ClipWriter, progress, on_frame) -> tuple[int, int]:
    """Frames through the server in order, at most `frames_in_flight` at once; returns (frames, version).
    The header's frame count is an estimate (duration x rate, rounded up, for WebM), so the total
    reported follows the frames counted and ends equal to them."""
    total, done = clip.info.frames, 0
    feeder = _Feeder(client, clip, style, options, shots)
    try:
        while True:
            kind, item = feeder.items.get()
            if kind == "end":
                break
            if kind == "error":
                raise item
            if kind == "audio":
                writer.write_audio(item)
                continue
            result = item.future.result()
            if result.version != feeder.version:
                raise RuntimeError(f"frame {item.index} came from version {result.version}, "
                                   f"not the pinned {feeder.version}")
            image = result.image
            if blend is not None:
                if item.cut:
                    blend.reset()
                image = blend(item.seen, image)
            if on_frame is not None:
                on_frame(item.index, item.decoded, image)
            writer.write_frame(image, item.pts)
            done += 1
            total = max(total, done)
            if progress is not None:
                progress(done, total)
        if progress is not None and total != done:
            progress(done, done)  # the header overstated the frames: the last report says how many there were
    finally:
        feeder.stop()
    return done, feeder.version
