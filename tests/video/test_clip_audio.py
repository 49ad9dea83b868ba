"""A clip's audio in every output: copied where the container holds its codec, encoded anew (AAC in MP4,
Opus in WebM) where it does not, in step with the video; an output is refused only when no encoding can
help (odd sides in MP4), and the refusal names one that works.

Before, a phone's odd-sized H.264 + AAC clip had no output at all: WebM refused the AAC ("choose MP4"),
MP4 the odd sides ("choose WebM"), and the CLI's suggested command failed too."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from tessera.client import TesseraClient
from tessera.video import stylize_clip
from tessera.video_io import ClipFormatError, ClipInfo, ClipWriter, check_output, open_clip
from tests.video.conftest import VIDEO_STYLE

# (source container, audio encoder, its sample rate, the codec PyAV names when reading it back)
SOURCES = [
    ("mp4", "aac", 44_100, "aac"),
    ("mp4", "libmp3lame", 44_100, "mp3"),
    ("mp4", "flac", 44_100, "flac"),
    ("mp4", "ac3", 48_000, "ac3"),
    ("mp4", "libopus", 48_000, "opus"),
    ("mov", "pcm_s16le", 22_050, "pcm_s16le"),
    ("webm", "libopus", 48_000, "opus"),
    ("webm", "vorbis", 44_100, "vorbis"),
]
COPIED = {"mp4": {"aac", "mp3", "flac", "ac3", "opus"}, "webm": {"opus", "vorbis"}}
ENCODER = {"mp4": "aac", "webm": "opus"}


def clip_with_audio(fmt: str, encoder: str, rate: int, width: int, height: int, frames: int = 4, fps: int = 10,
                    audio_start: float = 0.0) -> bytes:
    """A small clip whose audio track, `encoder` at `rate`, starts at `audio_start` seconds and lasts as
    long as the video. Odd sides in H.264 need 4:4:4 (as a phone's encoder crops a 4:2:0 picture)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        codec = "libvpx-vp9" if fmt == "webm" else "libx264"
        video = out.add_stream(codec, rate=fps)
        odd = width % 2 or height % 2
        video.width, video.height = width, height
        video.pix_fmt = "yuv444p" if odd and codec == "libx264" else "yuv420p"
        sound = out.add_stream(encoder, rate=rate, layout="stereo")
        if encoder == "vorbis":
            sound.codec_context.options = {"strict": "experimental"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 30 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(rate * (frames / fps - audio_start))
        wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
        tone = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        tone.sample_rate, tone.pts = rate, round(audio_start * rate)
        out.mux(sound.encode(tone))
        out.mux(sound.encode(None))
    return buffer.getvalue()


def copy_through(data: bytes, output: str) -> bytes:
    clip = open_clip(data)
    writer = ClipWriter(output, clip.info, clip.time_base, clip.audio_stream)
    for kind, item, pts in clip.items():
        if kind == "video":
            writer.write_frame(item, pts)
        else:
            writer.write_audio(item)
    data = writer.close()  # flushes the source's audio decoder: before the clip is closed
    clip.close()
    return data


def audio_span(data: bytes) -> tuple[str, float, float, float, int]:
    """As a player decodes the audio: (codec, first sample's time, the tone's onset, last sample's end in
    seconds, sample rate)."""
    onset = None
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
    for frame in frames:
        samples = frame.to_ndarray()
        channel = samples[0] if frame.format.is_planar else samples.reshape(frame.samples, -1)[:, 0]
        if channel.dtype.kind == "i":
            channel = channel / float(np.iinfo(channel.dtype).max)
        loud = np.nonzero(np.abs(channel) > 0.05)[0]
        if loud.size:
            onset = float(frame.pts * frame.time_base) + loud[0] / frame.sample_rate
            break
    first, last = frames[0], frames[-1]
    return (stream.codec_context.codec.canonical_name, float(first.pts * first.time_base), onset,
            float(last.pts * last.time_base) + last.samples / last.sample_rate, last.sample_rate)


def video_span(data: bytes) -> tuple[float, float]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
    return times[0], times[-1]


def assert_in_step(source: bytes, result: bytes, codec: str) -> None:
    """The tone sounds when it did (within 2 ms), the audio's first sample and its end move by at most one
    encoder frame (an encoder's priming, AAC's 1024 samples, and its last frame's padding), and the video's
    first and last frames keep their times."""
    _, start, onset, end, _ = audio_span(source)
    got_codec, got_start, got_onset, got_end, rate = audio_span(result)
    frame = (1024 if codec == "aac" else 960) / rate + 0.002
    assert got_codec == codec
    assert abs(got_onset - onset) < 0.002, (onset, got_onset)
    assert abs(got_start - start) < frame, (start, got_start)
    assert abs(got_end - end) < frame, (end, got_end)
    assert video_span(result) == pytest.approx(video_span(source), abs=0.002)


@pytest.mark.parametrize("odd", [False, True], ids=["even", "odd"])
@pytest.mark.parametrize(("fmt", "encoder", "rate", "codec"), SOURCES, ids=[f"{f}-{c}" for f, _, _, c in SOURCES])
def test_every_output_holds_the_audio_or_names_one_that_does(fmt, encoder, rate, codec, odd):
    data = clip_with_audio(fmt, encoder, rate, 33 if odd else 32, 25 if odd else 24)
    info = open_clip(data).info
    assert info.audio_codec == codec
    for output in ("mp4", "webm"):
        if odd and output == "mp4":  # the one refusal left: H.264 in 4:2:0 has even sides
            with pytest.raises(ClipFormatError, match=r"the clip is 33×25: H\.264 in MP4 needs even sides; "
                                                      "choose WebM"):
                check_output(info, output)
            continue
        result = copy_through(data, output)
        expected = codec if codec in COPIED[output] else ENCODER[output]
        assert_in_step(data, result, expected)
    assert info.default_output() == ("webm" if odd or fmt == "webm" else "mp4")


@pytest.mark.parametrize("output", ["mp4", "webm"])
def test_audio_that_starts_late_is_encoded_anew_at_its_time(output):
    source = ("webm", "vorbis", 44_100) if output == "mp4" else ("mp4", "aac", 44_100)
    data = clip_with_audio(*source, 32, 24, frames=8, audio_start=0.3)
    assert audio_span(data)[2] > 0.29
    assert_in_step(data, copy_through(data, output), ENCODER[output])


def test_audio_that_cannot_be_decoded_is_refused_only_where_it_cannot_be_copied():
    """A codec FFmpeg reads but cannot decode (none in the wheel's tests: the header is made by hand)."""
    even = ClipInfo("mp4", 32, 24, Fraction(10), 4, 0.4, "ac4", audio_decodable=False)
    with pytest.raises(ClipFormatError, match="audio is ac4, which WebM cannot hold unchanged and FFmpeg cannot "
                                              "decode to encode anew; no output can hold this clip: remove its "
                                              "audio track first"):
        check_output(even, "webm")
    odd = ClipInfo("mp4", 33, 25, Fraction(10), 4, 0.4, "ac4", audio_decodable=False)
    with pytest.raises(ClipFormatError, match="needs even sides; no output can hold this clip: remove its audio "
                                              "track, then choose WebM"):
        check_output(odd, "mp4")
    opus = ClipInfo("mp4", 33, 25, Fraction(10), 4, 0.4, "opus", audio_decodable=False)
    check_output(opus, "webm")  # copied: no decoding needed
    assert opus.default_output() == "webm"


def test_an_odd_phone_clip_with_aac_is_restyled_by_default_as_webm_with_opus(video_server):
    data = clip_with_audio("mp4", "aac", 44_100, 201, 153, frames=6, fps=12)
    with TesseraClient(video_server) as client:
        result = stylize_clip(client, data, VIDEO_STYLE)
        with pytest.raises(ClipFormatError, match="201×153: H.264 in MP4 needs even sides; choose WebM"):
            stylize_clip(client, data, VIDEO_STYLE, "mp4")
    assert (result.format, result.frames) == ("webm", 6)
    assert result.audio_note == "its AAC audio is encoded anew as Opus, since WebM cannot hold AAC"
    out = open_clip(result.data)
    assert (out.info.width, out.info.height, out.info.audio_codec) == (201, 153, "opus")
    out.close()
    assert_in_step(data, result.data, "opus")


def test_the_gateway_restyles_an_odd_aac_clip_as_webm_and_an_even_one_in_either(video_server):
    from bff import close_app
    from tests.bff.live import make_app
    from tests.bff.test_jobs_api import sse
    from tests.video.test_clip_jobs import post_clip

    app = make_app(servers=(video_server,), max_clip_seconds=5.0)
    try:
        gateway = app.test_client()
        odd = clip_with_audio("mp4", "aac", 44_100, 201, 153, frames=3)
        refused = post_clip(gateway, odd, "odd_aac.mp4", format="mp4")
        assert (refused.status_code, refused.json["error"]) == (400, "unsupported_output")
        assert refused.json["message"] == "The clip is 201×153: H.264 in MP4 needs even sides; choose WebM."
        even = clip_with_audio("mp4", "aac", 44_100, 64, 48, frames=3)
        for data, fields in ((odd, {}), (even, {"format": "webm"})):
            created = post_clip(gateway, data, "phone.mp4", **fields)
            assert created.status_code == 202, created.json
            assert sse(gateway.get(created.json["events_url"]).get_data(as_text=True))[-1][0] == "done"
            result = gateway.get(created.json["result_url"])
            assert result.mimetype == "video/webm"
            assert_in_step(data, result.data, "opus")
    finally:
        close_app(app)


def test_the_command_told_for_an_odd_aac_clip_in_a_folder_works_when_pasted(video_server, tmp_path):
    """Before: the command wrote .webm and, pasted, failed with "audio is aac, which WebM cannot hold
    unchanged; choose MP4"."""
    folder, out = tmp_path / "f3", tmp_path / "out"
    folder.mkdir()
    data = clip_with_audio("mp4", "aac", 44_100, 201, 153, frames=3)
    (folder / "odd_aac.mp4").write_bytes(data)
    run = [sys.executable, "-m", "tessera.cli"]
    told = subprocess.run([*run, "stylize", str(folder), "-o", str(out), "--style", VIDEO_STYLE, "--server",
                           video_server], capture_output=True, text=True, timeout=120)
    line = next(line for line in told.stderr.splitlines() if "on its own: " in line)
    assert "(its AAC audio is encoded anew as Opus, since WebM cannot hold AAC); restyle it on its own: " in line
    command = shlex.split(line.split("on its own: ", 1)[1])
    assert command[:2] == ["tessera", "stylize"] and command[4] == str(out / f"odd_aac-{VIDEO_STYLE}.webm")
    pasted = subprocess.run([*run, *command[1:]], capture_output=True, text=True, timeout=120)
    assert pasted.returncode == 0, pasted.stderr
    assert_in_step(data, (out / f"odd_aac-{VIDEO_STYLE}.webm").read_bytes(), "opus")


def clip_with_stuck_audio_tail(encoder: str, rate: int, stuck: int = 2) -> bytes:
    """A WebM clip whose last `stuck` audio packets repeat the timestamp of the one before them (a damaged
    tail: the clip reads and decodes, but an MP4 cannot hold audio whose time does not move)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        video = out.add_stream("libvpx-vp9", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        sound = out.add_stream(encoder, rate=rate, layout="stereo")
        if encoder == "vorbis":
            sound.codec_context.options = {"strict": "experimental"}
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 30 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(rate * 0.4)) / rate)).astype(np.float32)
        tone = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        tone.sample_rate, tone.pts = rate, 0
        packets = sound.encode(tone) + sound.encode(None)
        for packet in packets[-stuck:]:
            packet.pts, packet.dts = packets[-stuck - 1].pts, packets[-stuck - 1].dts
        for packet in packets:
            out.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def outputs(monkeypatch) -> list:
    """Every container PyAV opens for writing while the test runs (a closed one holds no streams)."""
    opened, real_open = [], av.open

    def recording_open(*args, **kwargs):
        container = real_open(*args, **kwargs)
        if (args[1:2] or [kwargs.get("mode", "r")])[0] == "w":
            opened.append(container)
        return container

    monkeypatch.setattr(av, "open", recording_open)
    return opened


def test_audio_damaged_at_its_tail_is_a_format_error_and_the_output_is_closed(outputs):
    """Before, the flush in close() raised PyAV's ArgumentError (the gateway's 500) and left the output
    open; the copied packets of the same damage raised it from write_audio."""
    data = clip_with_stuck_audio_tail("vorbis", 44_100)
    outputs.clear()
    with pytest.raises(ClipFormatError, match=r"the clip's audio is damaged and cannot be encoded anew as AAC "
                                              r"\(Invalid argument\)"):
        copy_through(data, "mp4")
    assert len(outputs) == 1 and len(outputs[0].streams) == 0  # closed by close() itself
    with pytest.raises(ClipFormatError, match="the clip's audio is damaged and cannot be written to MP4"):
        copy_through(clip_with_stuck_audio_tail("libopus", 48_000), "mp4")


def test_an_audio_encoder_that_cannot_be_made_is_a_format_error_and_the_output_is_closed(outputs, monkeypatch):
    """As where PyAV is built on an FFmpeg without libopus; before, the container opened for the output
    was left open and PyAV's UnknownCodecError escaped."""
    from tessera.video_io import OUTPUTS

    clip = open_clip(clip_with_audio("mp4", "aac", 44_100, 32, 24))
    outputs.clear()
    monkeypatch.setitem(OUTPUTS["webm"], "audio_encoder", "no-such-encoder")
    with pytest.raises(ClipFormatError, match="the clip's audio cannot be encoded anew as no-such-encoder"):
        ClipWriter("webm", clip.info, clip.time_base, clip.audio_stream)
    clip.close()
    assert len(outputs) == 1 and len(outputs[0].streams) == 0


def test_a_clip_whose_audio_fails_at_the_end_is_a_format_error_for_stylize_clip_and_the_gateway(video_server,
                                                                                                   outputs):
    """The failure comes from writer.close(), which stylize_clip called outside its abort: a 500
    internal_error at the gateway, where it is now 422 undecodable_clip."""
    from bff import close_app
    from tests.bff.live import make_app
    from tests.bff.test_jobs_api import sse
    from tests.video.test_clip_jobs import post_clip

    data = clip_with_stuck_audio_tail("vorbis", 44_100)
    with TesseraClient(video_server) as client, pytest.raises(ClipFormatError, match="audio is damaged"):
        stylize_clip(client, data, VIDEO_STYLE, "mp4")
    assert outputs and all(len(container.streams) == 0 for container in outputs)
    app = make_app(servers=(video_server,), max_clip_seconds=5.0)
    try:
        gateway = app.test_client()
        created = post_clip(gateway, data, "damaged.webm", format="mp4")
        assert created.status_code == 202, created.json
        events = sse(gateway.get(created.json["events_url"]).get_data(as_text=True))
        assert (events[-1][1]["status"], events[-1][1]["error"]) == (422, "undecodable_clip")
        assert "audio is damaged and cannot be encoded anew as AAC" in events[-1][1]["message"]
    finally:
        close_app(app)
