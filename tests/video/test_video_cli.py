"""`tessera stylize clip -o out.mp4`: a clip from the command line, and its errors as one line."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from scripts.make_clips import make_clip
from tessera.video_io import open_clip
from tests.bff.pictures import HEIC_HEAD, M4A_HEAD, iso_media
from tests.video.conftest import VIDEO_STYLE


def tessera(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], capture_output=True, text=True, timeout=120)


def test_stylize_writes_the_clip(video_server, tmp_path):
    (tmp_path / "clip.gif").write_bytes(make_clip("moving", "gif", 64, 48, 5, 10))
    for name in ("out.webm",):
        result = tessera("stylize", str(tmp_path / "clip.gif"), "-o", str(tmp_path / name), "--style", VIDEO_STYLE,
                         "--server", video_server)
        assert result.returncode == 0, result.stderr
        assert f"{name}: 5 frames, 1 shot, style {VIDEO_STYLE} v1" in result.stdout
        clip = open_clip((tmp_path / name).read_bytes())
        assert (clip.info.container, clip.info.width, clip.info.height, clip.info.frames) == \
            (name[4:], 64, 48, 5)
        frame = next(item for kind, item, _ in clip.items() if kind == "video")
        assert frame.dtype == np.uint8 and frame.std() > 10


def test_clip_errors_are_one_clear_line(video_server, tmp_path):
    (tmp_path / "clip.mp4").write_bytes(make_clip("still", "mp4", 64, 48, 8, 10))
    cases = [
        (["-o", str(tmp_path / "out.gif")], "out.gif: a clip is written as .mp4 or .webm"),
        (["-o", str(tmp_path / "out.mp4"), "--max-seconds", "0.5"], "lasts 0.8 s; the limit is 0.5 s"),
    ]
    for extra, words in cases:
        result = tessera("stylize", str(tmp_path / "clip.mp4"), "--style", VIDEO_STYLE, "--server", video_server,
                         *extra)
        assert result.returncode == 1
        assert words in result.stderr and "Traceback" not in result.stderr


def test_a_bad_temporal_blend_is_refused_before_any_work(tmp_path):
    result = tessera("stylize", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out.mp4"), "--style", VIDEO_STYLE,
                     "--temporal-blend", "1")
    assert result.returncode == 2
    assert "the temporal blend must be at least 0 and below 1, got 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_neither_photo_nor_clip_is_named_as_such(video_server, tmp_path):
    """Before, a text file or an empty file named .mp4 got "cannot tell the image format of 'out.mp4'"
    (the output's name, and .mp4 sounding unsupported); the same went for a .webm and a .png output."""
    cases = {"notes.mp4": b"this is not a video\n", "empty.mp4": b"", "notes.webm": b"\x00" * 64,
             "fake.png": b"\x89PNX not really a PNG", "phone.heic": HEIC_HEAD, "phone.avif": iso_media("AVIF", 1),
             "song.m4a": M4A_HEAD}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        suffix = {".heic": ".png", ".avif": ".png", ".m4a": ".mp4"}.get(Path(name).suffix, Path(name).suffix)
        output = tmp_path / ("out" + suffix)
        result = tessera("stylize", str(tmp_path / name), "-o", str(output), "--style", VIDEO_STYLE,
                         "--server", video_server)
        assert result.returncode == 1, (name, result.stderr)
        said = "the file is empty" if not content else "neither a photo (PNG, JPEG or WebP) nor a video clip"
        assert f"{tmp_path / name}: {said}" in result.stderr, (name, result.stderr)
        assert "cannot tell the image format" not in result.stderr and "Traceback" not in result.stderr
        assert not output.exists()
