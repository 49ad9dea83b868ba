"""Read and write video clips with PyAV (FFmpeg's libraries, carried in its wheel): the one place that
knows containers, codecs and timestamps. Frames come out and go in as HxWx3 uint8 RGB arrays.

Inputs: MP4, MOV, WebM (and Matroska), animated GIF through FFmpeg, animated WebP and animated PNG
through Pillow (FFmpeg's WebP decoder reads still images only, and its APNG demuxer states no
duration). Outputs: MP4 with H.264 (libx264, yuv420p) or WebM with VP9, at the source's frame size
and timestamps; the audio track's packets are copied unchanged where the output can hold its codec,
and otherwise decoded and encoded anew at the same timestamps (AAC in MP4, Opus in WebM), so an
output refuses a clip only for what no encoding can fix (odd sides in MP4, audio FFmpeg cannot decode).

Every limit is checked from the container's header in `open_clip`, before a frame is decoded, and
again while decoding (a header may lie): `ClipTooLargeError` (HTTP 413) for duration, frame size and
total pixels, `ClipFormatError` (HTTP 400) for everything else.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageSequence, PngImagePlugin, WebPImagePlugin

from tessera.clip_defaults import MAX_CLIP_SECONDS
from tessera.imageio import pixel_counts
from tessera.number_checks import positive_seconds, whole_number
from tessera.video_sniff import CLIP_NAMES, INPUT_LABELS, sniff_clip

# Output containers: the video encoder, its options, the audio codecs the container holds as they are
# (their packets are copied), and the encoder for any other audio (decoded, then encoded anew).
OUTPUTS = {
    "mp4": {"codec": "libx264", "mime": "video/mp4", "options": {"crf": "18", "preset": "veryfast"},
            "audio": {"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"}, "audio_encoder": "aac"},
    "webm": {"codec": "libvpx-vp9", "mime": "video/webm",
             "options": {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
             "audio": {"opus", "vorbis"}, "audio_encoder": "libopus"},
}
_LABEL = {"mp4": "MP4", "webm": "WebM"}
# How a message names an audio codec (FFmpeg's name otherwise; every pcm_* is "PCM").
_AUDIO_LABEL = {"aac": "AAC", "mp3": "MP3", "opus": "Opus", "libopus": "Opus", "vorbis": "Vorbis", "flac": "FLAC",
                "alac": "ALAC", "ac3": "AC-3", "eac3": "E-AC-3", "mp2": "MP2"}
AUDIO_BIT_RATE = 128_000  # of re-encoded audio, AAC or Opus: transparent for speech and most music
_AV_ERRORS = (av.error.FFmpegError, ValueError, OSError)


class ClipFormatError(ValueError):
    """The bytes are not a clip Tessera can read or write as asked; the message says why (HTTP 400)."""


class ClipTooLargeError(ClipFormatError):
    """The clip is longer, larger or has more pixels than allowed (HTTP 413)."""


@dataclass(frozen=True)
class ClipLimits:
    """What a clip may hold: seconds, pixels per frame and pixels over all frames."""

    max_seconds: float = MAX_CLIP_SECONDS
    max_frame_pixels: int = 3840 * 2160
    max_total_pixels: int = 1_000_000_000

    def __post_init__(self) -> None:
        """ValueError for a limit that is not a number in range (NaN seconds would switch the limit off)."""
        positive_seconds("max_seconds", self.max_seconds)
        whole_number("max_frame_pixels", self.max_frame_pixels, 1)
        whole_number("max_total_pixels", self.max_total_pixels, 1)


@dataclass(frozen=True)
class ClipInfo:
    """What the header says. `fps` is the average frame rate; `frames` the count the header states or,
    failing that, duration x fps rounded up (an estimate: tessera.video counts the frames it decodes);
    `audio_codec` is '' when there is no audio track, and `audio_decodable` whether FFmpeg can decode it
    (needed where an output cannot hold it unchanged)."""

    container: str  # 'mp4', 'mov', 'webm', 'gif', 'webp' or 'apng'
    width: int
    height: int
    fps: Fraction
    frames: int
    seconds: float
    audio_codec: str = ""
    audio_decodable: bool = True

    @property
    def total_pixels(self) -> int:
        return self.frames * self.width * self.height

    def default_output(self) -> str:
        """WebM for WebM sources and odd frame sizes (H.264 in yuv420p needs even sides), MP4 otherwise;
        the other when that one cannot hold this clip and the other can (check_output)."""
        odd = self.width % 2 or self.height % 2
        preferred = "webm" if self.container == "webm" or odd else "mp4"
        fits = [name for name in (preferred, *OUTPUTS) if _refusal(self, name) is None]
        return fits[0] if fits else preferred


def check_output(info: ClipInfo, output: str) -> None:
    """Raise ClipFormatError when `output` ('mp4' or 'webm') cannot hold this clip, naming an output
    that can (or what to change when none can). Audio the output cannot hold unchanged is no reason:
    it is re-encoded (audio_handling)."""
    if output not in OUTPUTS:
        raise ClipFormatError(f"a clip can be written as {' or '.join(OUTPUTS)}, not {output!r}")
    reason = _refusal(info, output)
    if reason is None:
        return
    fits = [name for name in OUTPUTS if _refusal(info, name) is None]
    if fits:
        advice = f"choose {_LABEL[fits[0]]}"
    elif info.width % 2 or info.height % 2:
        advice = "no output can hold this clip: remove its audio track, then choose WebM"
    else:
        advice = "no output can hold this clip: remove its audio track first"
    raise ClipFormatError(f"{reason}; {advice}")


def _refusal(info: ClipInfo, output: str) -> str | None:
    """Why `output` cannot hold the clip, or None when it can."""
    if output == "mp4" and (info.width % 2 or info.height % 2):
        return f"the clip is {info.width}×{info.height}: H.264 in MP4 needs even sides"
    if audio_handling(info, output) is None:
        return (f"the clip's audio is {audio_label(info.audio_codec)}, which {_LABEL[output]} cannot hold "
                "unchanged and FFmpeg cannot decode to encode anew")
    return None


def audio_handling(info: ClipInfo, output: str) -> str | None:
    """How `output` takes the clip's audio: '' without an audio track, 'copy' (its packets unchanged),
    'encode' (decoded and encoded anew: AAC in MP4, Opus in WebM), None when it cannot."""
    if not info.audio_codec:
        return ""
    if info.audio_codec in OUTPUTS[output]["audio"]:
        return "copy"
    return "encode" if info.audio_decodable else None


def audio_note(info: ClipInfo, output: str) -> str:
    """A clause saying that the audio is encoded anew, for a person ('' when it is copied or absent):
    "its AAC audio is encoded anew as Opus, since WebM cannot hold AAC"."""
    if audio_handling(info, output) != "encode":
        return ""
    before, after = audio_label(info.audio_codec), audio_label(OUTPUTS[output]["audio_encoder"])
    return f"its {before} audio is encoded anew as {after}, since {_LABEL[output]} cannot hold {before}"


def audio_label(codec: str) -> str:
    """How a message names an FFmpeg audio codec: 'AAC', 'Opus', 'PCM' (any pcm_*), else the name itself."""
    return "PCM" if codec.startswith("pcm_") else _AUDIO_LABEL.get(codec, codec)


def check_limits(info: ClipInfo, limits: ClipLimits) -> None:
    """Raise ClipTooLargeError naming the first limit the header breaks."""
    if info.width * info.height > limits.max_frame_pixels:
        counted, limit = pixel_counts(info.width * info.height, limits.max_frame_pixels)
        raise ClipTooLargeError(f"the clip's frames are {info.width}×{info.height} ({counted}); the limit is "
                                f"{limit} per frame")
    if info.seconds > limits.max_seconds:
        raise ClipTooLargeError(f"the clip lasts {info.seconds:.1f} s; the limit is {limits.max_seconds:g} s")
    if info.total_pixels > limits.max_total_pixels:
        counted, limit = pixel_counts(info.total_pixels, limits.max_total_pixels)
        raise ClipTooLargeError(f"the clip has {info.frames} frames of {info.width}×{info.height} "
                                f"({counted} in all); the limit is {limit}")


class Clip:
    """An opened input clip (header read, nothing decoded). `items()` yields the clip in file order as
    ('video', rgb HxWx3 uint8, pts) and ('audio', av.Packet, None); `pts` counts `time_base` units."""

    def __init__(self, data: bytes, info: ClipInfo, limits: ClipLimits, container=None, image=None) -> None:
        self.data, self.info, self.limits = data, info, limits
        self._container, self._image = container, image
        self.time_base = (container.streams.video[0].time_base if container is not None else Fraction(1, 1000))
        self.audio_stream = container.streams.audio[0] if container is not None and info.audio_codec else None

    def items(self) -> Iterator[tuple[str, object, int | None]]:
        guard = _Guard(self.info, self.limits)
        if self._image is not None:
            yield from self._animation_items(guard)
            return
        video = self._container.streams.video[0]
        streams = [video] + ([self.audio_stream] if self.audio_stream is not None else [])
        try:
            for packet in self._container.demux(*streams):
                if packet.stream is self.audio_stream:
                    if packet.dts is not None:
                        yield "audio", packet, None
                    continue
                for frame in packet.decode():
                    guard.count(frame.pts, self.time_base)
                    yield "video", frame.to_ndarray(format="rgb24"), frame.pts
        except _AV_ERRORS as exc:
            raise ClipFormatError(f"the {self.info.container.upper()} clip is damaged and cannot be decoded "
                                  f"({_reason(exc)})") from None

    def _animation_items(self, guard: _Guard) -> Iterator[tuple[str, object, int | None]]:
        """The frames of an animated WebP or PNG, composed by Pillow, timed in milliseconds."""
        pts = 0
        try:
            for frame in ImageSequence.Iterator(self._image):
                guard.count(pts, self.time_base)
                yield "video", np.asarray(frame.convert("RGB"), dtype=np.uint8), pts
                pts += max(1, int(frame.info.get("duration", 100)))
        except (OSError, ValueError, EOFError) as exc:
            name = CLIP_NAMES[self.info.container].split(" ", 1)[1]  # 'animated WebP'
            raise ClipFormatError(f"the {name} is damaged and cannot be decoded ({exc})") from None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        if self._image is not None:
            self._image.close()


class _Guard:
    """Counts decoded frames against the limits, in case the header understated them."""

    def __init__(self, info: ClipInfo, limits: ClipLimits) -> None:
        self._info, self._limits = info, limits
        self._max_frames = limits.max_total_pixels // max(1, info.width * info.height)
        self._frames = 0

    def count(self, pts: int | None, time_base: Fraction) -> None:
        self._frames += 1
        seconds = float(pts * time_base) if pts is not None else 0.0
        if self._frames > self._max_frames or seconds > self._limits.max_seconds + 1.0:
            raise ClipTooLargeError(f"the clip holds more than its header declared ({self._frames} frames, "
                                    f"{seconds:.1f} s so far); the limits are {self._limits.max_seconds:g} s and "
                                    f"{pixel_counts(0, self._limits.max_total_pixels)[1]}")


def open_clip(data: bytes, limits: ClipLimits = ClipLimits()) -> Clip:
    """Open a clip from its bytes and check it against `limits` from the header alone.

    Raises ClipFormatError (not a clip Tessera reads, damaged header, no video track, no stated
    duration) or ClipTooLargeError.
    """
    kind = sniff_clip(data)
    if kind is None:
        raise ClipFormatError(f"the file is not a {INPUT_LABELS} clip")
    if kind in _PILLOW_ANIMATIONS:
        image = _open_animation(data, kind)
        info = _animation_info(image, kind)
        clip = Clip(data, info, limits, image=image)
    else:
        container = _open_av(data, kind)
        try:
            info = _av_info(container, kind)
        except ClipFormatError:
            container.close()
            raise
        clip = Clip(data, info, limits, container=container)
    try:
        check_limits(info, limits)
    except ClipTooLargeError:
        clip.close()
        raise
    return clip


def _open_av(data: bytes, kind: str):
    try:
        return av.open(io.BytesIO(data), "r")
    except _AV_ERRORS as exc:
        raise ClipFormatError(f"the file looks like {CLIP_NAMES.get(kind, 'a ' + kind)} clip but its header "
                              f"cannot be read ({_reason(exc)})") from None


def _av_info(container, kind: str) -> ClipInfo:
    if not container.streams.video:
        raise ClipFormatError("the file has no video track")
    video = container.streams.video[0]
    width, height = video.codec_context.width, video.codec_context.height
    if width < 1 or height < 1:
        raise ClipFormatError("the clip's header states no frame size")
    if video.duration is not None and video.time_base:
        seconds = float(video.duration * video.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        raise ClipFormatError("the clip's header states no duration, so its size cannot be checked before decoding")
    fps = video.average_rate or video.guessed_rate
    if not fps or fps <= 0:
        raise ClipFormatError("the clip's header states no frame rate")
    frames = video.frames or math.ceil(seconds * fps)
    if frames < 1 or seconds <= 0:
        raise ClipFormatError("the clip's header declares no frames: it is damaged or cut short")
    audio, decodable = _audio_codec(container.streams.audio[0]) if container.streams.audio else ("", True)
    return ClipInfo(kind, width, height, Fraction(fps), int(frames), seconds, audio, decodable)


def _audio_codec(stream) -> tuple[str, bool]:
    """The audio codec's name ('mp3', where its decoder is 'mp3float') and whether FFmpeg (PyAV's wheel)
    has a decoder for it."""
    context = stream.codec_context
    try:
        av.codec.Codec(context.name, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return context.name, False
    return context.codec.canonical_name, True


# Containers read through Pillow, by the plugin class that opens them (no other plugin is tried).
_PILLOW_ANIMATIONS = {"webp": WebPImagePlugin.WebPImageFile, "apng": PngImagePlugin.PngImageFile}


def _open_animation(data: bytes, kind: str) -> Image.Image:
    """The animated WebP or PNG opened by its own Pillow plugin (header only); ClipFormatError when the
    header cannot be read."""
    try:
        image = _PILLOW_ANIMATIONS[kind](io.BytesIO(data))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ClipFormatError(f"the file looks like {CLIP_NAMES[kind]} but its header cannot be read "
                              f"({exc})") from None
    return image


def _animation_info(image: Image.Image, kind: str) -> ClipInfo:
    frames = getattr(image, "n_frames", 1)
    # The frame count comes from the header (WebP's demuxer, APNG's acTL); Pillow exposes the first
    # frame's duration, which stands for all of them.
    duration_ms = max(1, int(image.info.get("duration", 100)))
    seconds = frames * duration_ms / 1000
    width, height = image.size
    return ClipInfo(kind, width, height, Fraction(1000, duration_ms), frames, seconds)


def _reason(exc: Exception) -> str:
    """FFmpeg's own words for a failure, without its error number and the '<none>' file name of a
    clip read from memory: 'Invalid data found when processing input'."""
    reason = getattr(exc, "strerror", None)
    if isinstance(reason, str) and reason:
        return reason
    text = str(exc)
    return text.split(":", 1)[-1].strip(" '") if "Errno" in text else text


class ClipWriter:
    """Writes RGB frames at their source timestamps and the source's audio packets, into `output` ('mp4'
    or 'webm'): copied when the output holds their codec, else decoded and encoded anew (AAC or Opus) at
    their timestamps (audio_handling); `close()` flushes and returns the file's bytes."""

    def __init__(self, output: str, info: ClipInfo, time_base: Fraction, audio_stream=None) -> None:
        check_output(info, output)
        spec = OUTPUTS[output]
        self._label = _LABEL[output]
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, "w", format=output)
        try:  # the container is closed again when a stream cannot be added
            self._video = self._container.add_stream(spec["codec"], rate=info.fps, options=dict(spec["options"]))
            self._video.width, self._video.height, self._video.pix_fmt = info.width, info.height, "yuv420p"
            self._video.codec_context.time_base = time_base
            self._video.time_base = time_base
            self._source_audio = audio_stream
            self._encode_audio = audio_stream is not None and audio_handling(info, output) == "encode"
            self._encoder_label = _AUDIO_LABEL.get(spec["audio_encoder"], spec["audio_encoder"])
            if audio_stream is None:
                self._audio = None
            elif self._encode_audio:
                try:
                    self._audio = _audio_encoder(self._container, spec["audio_encoder"], audio_stream)
                except _AV_ERRORS as exc:
                    raise ClipFormatError(f"the clip's audio cannot be encoded anew as {self._encoder_label} "
                                          f"({_reason(exc)})") from None
            else:
                self._audio = self._container.add_stream_from_template(audio_stream)
        except BaseException:
            self.abort()
            raise
        self._last_pts: int | None = None

    def write_frame(self, rgb: np.ndarray, pts: int | None) -> None:
        """One frame; `pts` in the source's time base (None: one past the last)."""
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = pts, self._video.codec_context.time_base
        self._container.mux(self._video.encode(frame))

    def write_audio(self, packet) -> None:
        """One packet of the source's audio track: unchanged, or its samples encoded anew."""
        if self._audio is None:
            return
        if not self._encode_audio:
            packet.stream = self._audio
            try:
                self._container.mux(packet)
            except _AV_ERRORS as exc:  # timestamps that go back, say
                raise ClipFormatError(f"the clip's audio is damaged and cannot be written to {self._label} "
                                      f"({_reason(exc)})") from None
            return
        try:
            samples = packet.decode()
        except _AV_ERRORS as exc:
            raise ClipFormatError(f"the clip's audio is damaged and cannot be decoded ({_reason(exc)})") from None
        for frame in samples:
            self._encode(frame)

    def _encode(self, frame) -> None:
        # PyAV resamples to the encoder's rate, layout and sample format, keeping the frame's time
        # (its pts in the source's time base), so the audio starts and ends where it did.
        try:
            self._container.mux(self._audio.encode(frame))
        except _AV_ERRORS as exc:  # samples the encoder refuses, timestamps that go back
            raise ClipFormatError(f"the clip's audio is damaged and cannot be encoded anew as {self._encoder_label} "
                                  f"({_reason(exc)})") from None

    def close(self) -> bytes:
        """Flushes the encoders and the source's audio decoder and returns the file's bytes; on any
        failure the container is closed (abort) and FFmpeg's errors are ClipFormatError."""
        try:
            self._container.mux(self._video.encode(None))
            if self._encode_audio:
                try:
                    held = self._source_audio.codec_context.decode(None)  # what the decoder still holds
                except _AV_ERRORS as exc:
                    raise ClipFormatError(f"the clip's audio is damaged and cannot be decoded ({_reason(exc)})") \
                        from None
                for frame in held:
                    self._encode(frame)
                self._encode(None)
            self._container.close()
        except ClipFormatError:
            self.abort()
            raise
        except _AV_ERRORS as exc:
            self.abort()
            raise ClipFormatError(f"the {self._label} output cannot be written ({_reason(exc)})") from None
        except BaseException:
            self.abort()
            raise
        return self._buffer.getvalue()

    def abort(self) -> None:
        """Closes the container, after a failure (its errors are not raised)."""
        try:
            self._container.close()
        except _AV_ERRORS:
            pass


def _audio_encoder(container, encoder: str, source):
    """An audio stream of `container` encoding with `encoder` ('aac' or 'libopus') what `source` holds:
    at its sample rate where the encoder takes it (else 48 kHz), mono as mono and anything else as stereo."""
    rates = av.codec.Codec(encoder, "w").audio_rates or ()
    rate = source.codec_context.sample_rate
    if rates and rate not in rates:
        rate = 48_000
    layout = "mono" if source.codec_context.channels == 1 else "stereo"
    stream = container.add_stream(encoder, rate=rate, layout=layout)
    stream.bit_rate = AUDIO_BIT_RATE
    return stream
