"""`tessera stylize`: flags that do nothing for the input given are said to be ignored, and a style
image the server would refuse is named before any call."""

import subprocess
import sys

import pytest
from PIL import Image

from bff.config import GatewayConfig
from tessera import cli_parser
from tessera.number_checks import UINT32_MAX
from tessera.tiling import MIN_TILE_SIZE
from tests.bff.live import closed_port_address
from tests.bff.pictures import animation
from tests.support import TINY_STYLE
from tests.test_cli import tessera


def test_photo_flags_given_with_a_clip_are_said_to_be_ignored(inference_server, tmp_path):
    """Before, --scale 0.5 with a clip succeeded without a word: clips are restyled at brush scale 1."""
    (tmp_path / "clip.gif").write_bytes(animation("GIF", 2))
    result = tessera("stylize", str(tmp_path / "clip.gif"), "-o", str(tmp_path / "out.mp4"), "--style", TINY_STYLE,
                     "--server", inference_server, "--scale", "0.5", "--tile", "64", "--explain")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"tessera: warning: --scale, --tile, --explain apply to photos only; ignored for "
                             f"{tmp_path / 'clip.gif'}\n")
    assert "2 frames" in result.stdout


def test_clip_flags_given_with_a_photo_are_said_to_be_ignored(inference_server, tmp_path):
    # 48x32, so that --scale 0.5 paints it at 24x16, over the smallest working side (brush_scale.MIN_WORK_SIDE)
    Image.new("RGB", (48, 32), (200, 120, 40)).save(tmp_path / "p.png")

    def run(*flags: str):
        return tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                       "--server", inference_server, *flags)

    plain = run("--scale", "0.5")
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr
    both = run("--statistics", "shot", "--max-seconds", "5")  # given, though equal to a default: still unread
    assert both.returncode == 0, both.stderr
    assert both.stderr == (f"tessera: warning: --statistics, --max-seconds apply to clips only; ignored for "
                           f"{tmp_path / 'p.png'}\n")
    assert "tessera: warning: --frames-in-flight applies to clips only" in run("--frames-in-flight", "2").stderr
    # 0 is given, though 0.0 == False
    assert "tessera: warning: --temporal-blend applies to clips only" in run("--temporal-blend", "0").stderr


@pytest.mark.parametrize("flag", ["--style-image", "--mix"])
@pytest.mark.parametrize(("content", "problem"), [
    (b"plain text, no painting", "the file is not a PNG, JPEG or WebP image"),
    (animation("GIF", 2), "the file is an animated GIF clip of several frames, not a still PNG, JPEG or WebP image"),
], ids=["text", "clip"])
def test_a_style_image_the_server_would_refuse_is_named_before_any_call(tmp_path, flag, content, problem):
    """Before, the server's reply named only "the first style source, a style image"."""
    Image.new("RGB", (24, 16)).save(tmp_path / "p.png")
    Image.new("RGB", (24, 16)).save(tmp_path / "painting.png")
    (tmp_path / "notimage.jpg").write_bytes(content)
    look = (["--style-image", str(tmp_path / "notimage.jpg")] if flag == "--style-image"
            else ["--style-image", str(tmp_path / "painting.png"), "--mix", f"{tmp_path / 'notimage.jpg'}:0.3"])
    result = tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), *look,
                     "--server", closed_port_address())  # no server: the check must come first
    assert result.returncode == 1
    assert result.stderr == f"tessera: the style image {tmp_path / 'notimage.jpg'}: {problem}\n"


@pytest.mark.parametrize(("words", "said"), [
    (["stylize", "p.png", "-o", "o.png", "--style", TINY_STYLE, "--version", "99999999999"],
     "argument --version: a version is a whole number from 1 to 4294967295, got 99999999999"),
    (["stylize", "p.png", "-o", "o.png", "--style", TINY_STYLE, "--tile", "4294967296"],
     f"argument --tile: a tile edge is a whole number from {MIN_TILE_SIZE} to 4294967295, got 4294967296"),
    (["admin", "pin", TINY_STYLE, "4294967296", "--token", "t0ken"],
     "argument version: a version is a whole number from 1 to 4294967295, got 4294967296"),
], ids=["version", "tile", "admin-pin"])
def test_a_whole_number_beyond_its_proto_field_is_refused_as_a_bad_flag(inference_server, words, said):
    """Before, `--version 99999999999` reached the server's call and printed protobuf's
    `tessera: Value out of range: 99999999999` (status 1); a proto uint32 stops at 4294967295."""
    result = tessera(*words, "--server", inference_server)
    assert result.returncode == 2
    assert said in result.stderr and "Value out of range" not in result.stderr


def test_the_largest_version_a_proto_field_carries_is_a_version_the_server_is_asked_for(inference_server, tmp_path):
    Image.new("RGB", (24, 16)).save(tmp_path / "p.png")
    result = tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                     "--version", "4294967295", "--server", inference_server)
    assert result.returncode == 1
    assert f"style {TINY_STYLE} has no servable version 4294967295" in result.stderr


def _help(capsys, *words: str) -> str:
    """`tessera WORDS --help`, its lines joined."""
    with pytest.raises(SystemExit):
        cli_parser.parser().parse_args([*words, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_a_number_beyond_its_upper_bound_is_refused_naming_that_bound(capsys):
    """Before, `--max-seconds 1e12` was told "seconds must be a number above 0": the flag's fixed sentence
    replaced its check's, which names the bound broken."""
    with pytest.raises(SystemExit):
        cli_parser.parser().parse_args(["stylize", "c.gif", "-o", "o.mp4", "--max-seconds", "1e12"])
    assert "argument --max-seconds: the longest clip must be positive seconds, at most 1e+07, got 1000000000000.0" \
        in capsys.readouterr().err


def test_stylize_help_names_the_range_and_default_of_every_number_flag(capsys):
    """Before, --version, --tile, --max-pixels, --frames-in-flight and --max-seconds named no range (--tile's
    upper bound was in its refusal only), --strength neither range nor default, --max-pixels no default."""
    said = _help(capsys, "stylize")
    for text in (f"lists the versions loaded) [default the version it serves; 1 to {UINT32_MAX}]",
                 "paints it in its own style [default 1.0; 0 to 1]",
                 "(images only) [default auto; more than 0 and at most 1]",
                 f"(images only) [default planned per image; {MIN_TILE_SIZE} to {UINT32_MAX}]",
                 f"[default {cli_parser.MAX_PIXELS:,}; at least 1]",
                 "docs/video.md) [default 0.9; at least 0 and below 1]",
                 "frames restyled at once [default 3; at least 1]",
                 "refuse longer ones, in seconds [default 60; more than 0 and at most 1e+07]"):
        assert text in said


def test_admin_pin_help_says_what_its_arguments_are(capsys):
    said = _help(capsys, "admin", "pin")
    assert "style the style's id" in said and f"version the version to serve [1 to {UINT32_MAX}]" in said


def test_the_clip_defaults_are_one_definition_that_help_reads_without_pyav():
    """Help showed copies ("3", "60") of the defaults tessera.video and video_io held, since importing
    those loads PyAV; they are now tessera.clip_defaults, which the clip code, help and the gateway use."""
    from tessera.clip_defaults import FRAMES_IN_FLIGHT, MAX_CLIP_SECONDS
    from tessera.video import FRAMES_IN_FLIGHT as CLIENT_FRAMES
    from tessera.video_io import ClipLimits

    assert (CLIENT_FRAMES, ClipLimits().max_seconds, GatewayConfig().max_clip_seconds) == (
        FRAMES_IN_FLIGHT, MAX_CLIP_SECONDS, MAX_CLIP_SECONDS)
    loads = subprocess.run([sys.executable, "-c", "import sys, tessera.cli_parser, bff.config; "
                            "print('av' in sys.modules)"], capture_output=True, text=True, check=True)
    assert loads.stdout.strip() == "False"
