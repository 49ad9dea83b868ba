"""Clips in and out through PyAV: every accepted container, timestamps and audio kept, limits from the header."""

from fractions import Fraction

import pytest

from scripts.make_clips import make_clip
from tessera.video_io import (
    ClipFormatError,
    ClipInfo,
    ClipLimits,
    ClipTooLargeError,
    ClipWriter,
    check_limits,
    check_output,
    open_clip,
)
from tessera.video_sniff import sniff_clip


def _copy_through(data: bytes, output: str | None = None, invert: bool = False):
    """Decode every frame and write it back (inverted if asked): (clip info, frames, audio packets in, bytes)."""
    clip = open_clip(data)
    writer = ClipWriter(output or clip.info.default_output(), clip.info, clip.time_base, clip.audio_stream)
    frames, audio = 0, []
    for kind, item, pts in clip.items():
        if kind == "video":
            writer.write_frame(255 - item if invert else item, pts)
            frames += 1
        else:
            audio.append(bytes(item))
            writer.write_audio(item)
    info = clip.info
    clip.close()
    return info, frames, audio, writer.close()


def _audio_packets(data: bytes) -> list[bytes]:
    clip = open_clip(data)
    packets = [bytes(item) for kind, item, _ in clip.items() if kind == "audio"]
    clip.close()
    return packets


@pytest.mark.parametrize("fmt", ["mp4", "mov", "webm", "gif", "webp", "apng"])
def test_every_accepted_container_comes_back_at_its_size_rate_and_length(fmt):
    data = make_clip("moving", fmt, 96, 64, 8, 10)
    assert sniff_clip(data) == fmt
    info, frames, audio, out = _copy_through(data, invert=True)
    assert (info.width, info.height, info.fps) == (96, 64, 10)
    assert frames == 8
    back = open_clip(out)
    assert back.info.container == ("webm" if fmt == "webm" else "mp4")
    assert (back.info.width, back.info.height, back.info.fps) == (96, 64, 10)
    assert abs(back.info.seconds - info.seconds) < 0.11
    assert sum(1 for kind, *_ in back.items() if kind == "video") == 8
    back.close()


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_audio_packets_are_copied_unchanged(fmt):
    data = make_clip("still", fmt, 64, 48, 10, 10)
    _, _, audio_in, out = _copy_through(data)
    assert audio_in and _audio_packets(out) == audio_in
    assert open_clip(out).info.audio_codec == open_clip(data).info.audio_codec


def test_a_still_webp_and_other_files_are_not_clips():
    from io import BytesIO

    from PIL import Image

    still = BytesIO()
    Image.new("RGB", (8, 8)).save(still, "WEBP")
    for data in (still.getvalue(), b"\x89PNG\r\n\x1a\n" + b"0" * 40, b"hello world, not a clip at all"):
        assert sniff_clip(data) is None
        with pytest.raises(ClipFormatError, match="not a MP4, MOV, WebM, animated GIF, animated WebP or "
                                                  "animated PNG clip"):
            open_clip(data)


def test_a_damaged_header_is_a_format_error_not_a_crash():
    data = make_clip("still", "mp4", 64, 48, 4, 10)
    with pytest.raises(ClipFormatError) as refused:
        open_clip(data[:200])
    assert not isinstance(refused.value, ClipTooLargeError)


@pytest.mark.parametrize(("limits", "words"), [
    (ClipLimits(max_seconds=0.5), "lasts 0.8 s; the limit is 0.5 s"),
    (ClipLimits(max_frame_pixels=96 * 64 - 1), "frames are 96×64"),
    (ClipLimits(max_total_pixels=96 * 64 * 7), "8 frames of 96×64"),
])
@pytest.mark.parametrize("fmt", ["mp4", "webm", "webp"])
def test_limits_are_checked_from_the_header(fmt, limits, words):
    data = make_clip("pan", fmt, 96, 64, 8, 10)
    if fmt == "webm" and "8 frames" in words:
        words = "9 frames of 96×64"  # WebM states no frame count: duration x rate, rounded up
    with pytest.raises(ClipTooLargeError, match=words):
        open_clip(data, limits)


def test_outputs_that_cannot_hold_the_clip_are_refused_with_a_reason():
    odd = open_clip(make_clip("still", "gif", 63, 48, 3, 10))
    assert odd.info.default_output() == "webm"
    with pytest.raises(ClipFormatError, match="needs even sides; choose WebM"):
        check_output(odd.info, "mp4")
    aac = open_clip(make_clip("still", "mp4", 64, 48, 3, 10))
    check_output(aac.info, "webm")  # its audio is encoded anew as Opus (tests/video/test_clip_audio.py)
    with pytest.raises(ClipFormatError, match="mp4 or webm"):
        check_output(aac.info, "avi")


@pytest.mark.parametrize(("kind", "name"), [("mp4", "an MP4 clip"), ("webm", "a WebM clip")])
def test_a_cut_short_clip_is_named_in_plain_words(kind, name):
    """Before: 'looks like a MP4 clip but its header cannot be read (Invalid data ...: '<none>)'."""
    with pytest.raises(ClipFormatError) as caught:
        open_clip(make_clip("still", kind, 96, 64, 4, 10)[:300])
    message = str(caught.value)
    assert f"the file looks like {name} but its header cannot be read (" in message, message
    assert "<none>" not in message and "Errno" not in message, message


@pytest.mark.parametrize("limits, message", [
    # "the limit is 0.0001 megapixels per frame" before: a small limit is said in pixels
    (ClipLimits(max_frame_pixels=100), "the clip's frames are 64×48 (3,072 pixels); the limit is 100 pixels per frame"),
    (ClipLimits(max_frame_pixels=2_000_000), None),
    (ClipLimits(max_total_pixels=1_000), "the clip has 30 frames of 64×48 (92,160 pixels in all); the limit is "
                                         "1,000 pixels"),
])
def test_a_clips_pixel_limits_are_said_in_the_unit_they_read_well_in(limits, message):
    info = ClipInfo(container="mp4", width=64, height=48, fps=Fraction(30), frames=30, seconds=1.0)
    if message is None:
        check_limits(info, limits)
        return
    with pytest.raises(ClipTooLargeError) as caught:
        check_limits(info, limits)
    assert str(caught.value) == message
