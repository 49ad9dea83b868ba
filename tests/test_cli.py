"""The `tessera` command against a real server."""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tessera import cli_folder, cli_parser
from tests.bff.live import closed_port_address
from tests.bff.pictures import animation
from tests.support import TINY_STYLE


def tessera(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], capture_output=True, text=True, timeout=300)


def test_styles_lists_the_serving_style(inference_server):
    result = tessera("styles", "--server", inference_server)
    assert result.returncode == 0, result.stderr
    assert TINY_STYLE in result.stdout and "SERVING" in result.stdout
    assert "--preset" not in result.stdout  # a fixed style takes no look


def test_styles_lists_the_preset_ids_and_style_images_a_conditioned_style_takes(tmp_path):
    from scripts.local_stack import running_server
    from tests.support.conditioned import PAINTING_STYLE, write_painting_version

    registry = tmp_path / "registry"
    write_painting_version(registry)
    with running_server(registry) as address:
        listed = tessera("styles", "--server", address)
    assert listed.returncode == 0, listed.stderr
    lines = [line.strip() for line in listed.stdout.splitlines()]
    assert lines[0].startswith(PAINTING_STYLE) and lines[1:] == [
        "--preset: marbling, mosaic", "--style-image: any painting (PNG, JPEG or WebP), and --mix"]


def test_styles_lists_explain_for_a_style_that_ships_a_critic(tmp_path):
    """The server's refusal of --explain points to has_critic, which `tessera styles` did not show."""
    from scripts.local_stack import running_server
    from tests.support.critic_version import CRITIC_STYLE, tiny_critic, write_critic_version

    registry = tmp_path / "registry"
    write_critic_version(registry, tmp_path, tiny_critic())
    with running_server(registry) as address:
        listed = tessera("styles", "--server", address)
    assert listed.returncode == 0, listed.stderr
    lines = [line.strip() for line in listed.stdout.splitlines()]
    assert lines[0].startswith(CRITIC_STYLE)
    assert lines[1:] == ["--explain: what its critic sees (realism and Grad-CAM heat maps)"]


@pytest.mark.serial  # serial pass of `make test`: printed wall clock vs measured
def test_stylize_turns_a_3000x2000_photo_into_a_3000x2000_image(inference_server, tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:2000, 0:3000]
    photo = np.stack([xx % 256, yy % 256, (xx // 12 + yy // 8) % 256], axis=-1) + rng.integers(0, 8, (2000, 3000, 3))
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=90)
    started = time.perf_counter()
    result = tessera("stylize", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "out.webp"),
                     "--style", TINY_STYLE, "--server", inference_server, "--strength", "0.8")
    outside = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out.webp") as out:
        assert (out.format, out.size) == ("WEBP", (3000, 2000))
    assert "3000x2000" in result.stdout
    # The speed printed is the wall clock a person sees: start-up, decoding and encoding included.
    wall, rate = re.search(r"([\d.]+) s wall clock \(([\d.]+) MP/s", result.stdout).groups()
    assert 0.6 * outside <= float(wall) <= outside + 0.1
    # Both figures are printed rounded (wall to 0.1 s, rate to 0.01 MP/s): the rate must come from a
    # wall clock that rounds to the printed one (a CI run printed 1.7 s and 3.64 MP/s, from 1.65 s).
    assert 6.0 / (float(wall) + 0.05) - 0.005 <= float(rate) <= 6.0 / (float(wall) - 0.05) + 0.005


def test_unknown_style_and_unreadable_input_give_one_clear_line(inference_server, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    missing = tessera("stylize", str(tmp_path / "notes.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                      "--server", inference_server)
    assert missing.returncode == 1
    assert "notes.png: neither a photo (PNG, JPEG or WebP) nor a video clip" in missing.stderr
    (tmp_path / "empty.jpg").write_bytes(b"")
    empty = tessera("stylize", str(tmp_path / "empty.jpg"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                    "--server", inference_server)
    assert empty.returncode == 1 and empty.stderr.strip() == f"tessera: {tmp_path / 'empty.jpg'}: the file is empty"
    Image.new("RGB", (8, 8)).save(tmp_path / "still.gif")  # one frame: no clip, and GIF is no photo format
    still = tessera("stylize", str(tmp_path / "still.gif"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                    "--server", inference_server)
    assert still.returncode == 1 and "still.gif: That GIF holds a single frame" in still.stderr
    assert "save it as PNG or JPEG" in still.stderr
    Image.new("RGB", (8, 8)).save(tmp_path / "small.png")
    unknown = tessera("stylize", str(tmp_path / "small.png"), "-o", str(tmp_path / "o.png"), "--style", "nope",
                      "--server", inference_server)
    assert unknown.returncode == 1
    assert "not found: unknown style 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


def test_a_long_thin_image_is_refused_from_its_header_before_any_call(tmp_path):
    Image.new("RGB", (2_000_000, 1)).save(tmp_path / "strip.png")  # 6 kB that would cost thousands of tiles
    result = tessera("stylize", str(tmp_path / "strip.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                     "--server", closed_port_address())  # no server: the refusal must come first
    assert result.returncode == 1
    assert "strip.png: the image is 2000000×1 pixels: one side may be at most 1,000 times the other" in result.stderr


def test_admin_commands_pin_roll_back_and_report(tmp_path):
    from scripts.local_stack import running_server
    from tests.support.tiny_model import write_tiny_version

    registry = tmp_path / "registry"
    for seed in (0, 1):
        write_tiny_version(registry, "ops", tmp_path, seed=seed)
    with running_server(registry, admin_token="t0ken") as address:
        denied = tessera("admin", "status", "--server", address, "--token", "wrong")
        assert denied.returncode == 1 and "unauthenticated" in denied.stderr
        admin = ("--server", address, "--token", "t0ken")
        assert "serving v1 (pinned)" in tessera("admin", "rollback", "ops", *admin).stdout
        assert "serving v2 (pinned)" in tessera("admin", "pin", "ops", "2", *admin).stdout
        assert "serving v2, loaded [1, 2]" in tessera("admin", "unpin", "ops", *admin).stdout
        assert "ops" in tessera("admin", "status", *admin).stdout


def test_stylize_a_folder_into_a_folder(inference_server, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, size in (("a.png", (40, 30)), ("b.jpg", (64, 48)), ("c.webp", (20, 50))):
        Image.new("RGB", size, (200, 120, 40)).save(photos / name)
    (photos / "notes.txt").write_text("skipped: not an image name")
    (photos / "broken.png").write_text("not an image")
    (photos / "moving.webp").write_bytes(animation("WEBP", 2))
    result = tessera("stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE,
                     "--server", inference_server)
    assert result.returncode == 1  # one file failed; the others were written
    assert "broken.png: " in result.stderr and "Traceback" not in result.stderr
    # Each failure names its file once, as its path ("tessera: broken.png: photos/broken.png: ..." did not).
    clip, skipped, *lines = result.stderr.strip().splitlines()
    assert skipped.startswith(f"tessera: skipped {photos / 'notes.txt'}: "), skipped
    assert [line.split(": ")[1] for line in lines] == [str(photos / "broken.png")], lines
    assert lines[0].count("broken.png") == 1, lines
    # An animated WebP named .webp is a clip: skipped as an animated GIF is, with the command for it.
    assert clip == (f"tessera: skipped {photos / 'moving.webp'}: an animated WebP clip, by its content; restyle it "
                    f"on its own: tessera stylize {photos / 'moving.webp'} -o "
                    f"{tmp_path / 'out' / f'moving-{TINY_STYLE}.mp4'} --style {TINY_STYLE} --server {inference_server}")
    assert "3 of 4 images restyled" in result.stdout and "; 2 other entries skipped" in result.stdout
    for name, size, fmt in (("a", (40, 30), "PNG"), ("b", (64, 48), "JPEG"), ("c", (20, 50), "WEBP")):
        suffix = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}[fmt]
        with Image.open(tmp_path / "out" / f"{name}-{TINY_STYLE}{suffix}") as out:
            assert (out.format, out.size) == (fmt, size)


def test_the_command_a_folder_gives_for_its_clip_keeps_every_option_and_quotes_its_paths(inference_server, tmp_path):
    photos = tmp_path / "my photos"
    photos.mkdir()
    (photos / "it's moving.webp").write_bytes(animation("WEBP", 2))
    out = tmp_path / "out dir"
    result = tessera("stylize", "--strength", "0.5", str(photos), f"--output={out}", "--style", TINY_STYLE,
                     "--server", inference_server, "--scale", "0.5", "--tile", "64")
    assert result.returncode == 1  # no photo to restyle
    command = result.stderr.split("restyle it on its own: ", 1)[1].splitlines()[0]
    words = shlex.split(command)
    assert words[0] == "tessera"
    again = cli_parser.parser().parse_args(words[1:])
    assert (again.input, again.output) == (str(photos / "it's moving.webp"), str(out / f"it's moving-{TINY_STYLE}.mp4"))
    assert (again.style, again.strength, again.scale, again.tile, again.server) == (
        TINY_STYLE, 0.5, 0.5, 64, inference_server)


@pytest.mark.parametrize("output_words", [["--out={out}"], ["-o={out}"], ["-o{out}"], ["--output", "{out}"]],
                         ids=["abbreviated", "o-equals", "o-joined", "output-apart"])
def test_the_clip_command_follows_every_way_of_giving_the_output(tmp_path, monkeypatch, output_words):
    """`--out=DIR` and `-o=DIR` are argparse's too: the command must replace them, not lose the clip."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.webp").write_bytes(b"")  # a clip named like an option, in the folder "."
    out = tmp_path / "o"
    words = ["stylize", ".", *[w.format(out=out) for w in output_words], "--style", TINY_STYLE, "--strength", "0.3"]
    args = cli_parser.parser().parse_args(words)
    args.argv = words
    command = cli_folder.clip_command(args, Path("-x.webp"), out / "-x-tiny.mp4")
    again = cli_parser.parser().parse_args(shlex.split(command)[1:])
    assert (again.input, again.output, again.style, again.strength) == (
        "./-x.webp", os.path.join(str(out), "-x-tiny.mp4"), TINY_STYLE, 0.3)


def test_stylize_pins_a_version_with_version(tmp_path):
    from scripts.local_stack import running_server
    from tests.support.tiny_model import write_tiny_version

    registry = tmp_path / "registry"
    for seed in (0, 1):
        write_tiny_version(registry, "ops", tmp_path, seed=seed)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    with running_server(registry) as address:
        def run(*extra: str, out: str = "o.png") -> subprocess.CompletedProcess:
            return tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / out), "--style", "ops",
                           "--server", address, *extra)

        listed = tessera("styles", "--server", address).stdout
        assert "--version: 1 (loaded besides the serving one)" in listed
        assert "style ops v2," in run(out="newest.png").stdout
        assert "style ops v1," in run("--version", "1", out="first.png").stdout
        newest, first = (np.asarray(Image.open(tmp_path / name)) for name in ("newest.png", "first.png"))
        assert newest.shape == first.shape == (24, 32, 3) and not np.array_equal(newest, first)
        missing = run("--version", "7")
        assert missing.returncode == 1
        assert "style ops has no servable version 7: it does not exist; its servable versions: 1, 2" in missing.stderr
    bad = run("--version", "0")
    assert bad.returncode == 2 and "a version is a whole number from 1 to 4294967295, got 0" in bad.stderr


@pytest.mark.parametrize("address", [closed_port_address(), "nohost.invalid:50051"], ids=["refused", "no-such-host"])
def test_no_server_at_the_address_is_said_in_words(address):
    result = tessera("styles", "--server", address, "--timeout", "10")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tessera: no Tessera server answers at {address}: start one (`make run`)")


def test_an_animated_png_is_a_clip_and_a_one_frame_one_a_photo(inference_server, tmp_path):
    """Like a GIF or animated WebP: two frames or more make a clip (here refused for a photo's output
    name), one frame is a photo (tessera.video_sniff)."""
    from tests.bff.pictures import animation

    (tmp_path / "moving.png").write_bytes(animation("PNG", 2))
    (tmp_path / "still.png").write_bytes(animation("PNG", 1))
    moving = tessera("stylize", str(tmp_path / "moving.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                     "--server", inference_server)
    assert moving.returncode == 1 and "a clip is written as .mp4 or .webm" in moving.stderr, moving.stderr
    still = tessera("stylize", str(tmp_path / "still.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                    "--server", inference_server)
    assert still.returncode == 0, still.stderr
    with Image.open(tmp_path / "o.png") as result:
        assert result.size == (96, 64)


def test_an_http_port_at_the_address_is_said_in_words(inference_server, tmp_path):
    """Before, the gateway's port gave "unavailable: ... Failed parsing HTTP/2 (Expected SETTINGS frame ...)"."""
    from scripts.local_stack import gateway_process

    with gateway_process([inference_server]) as (_, url):
        address = url.removeprefix("http://").rstrip("/")
        result = tessera("styles", "--server", address, "--timeout", "10")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tessera: something answers at {address}, but it is not a Tessera gRPC server "
                                    "(perhaps the gateway's HTTP port): name the inference server's gRPC port with "
                                    "--server ("), result.stderr
    assert "HTTP/2" in result.stderr  # gRPC's own words follow, for whoever debugs


def test_admin_against_a_server_without_the_admin_service_says_how_to_turn_it_on(inference_server):
    """Before: "tessera: unimplemented: Method not found!"."""
    result = tessera("admin", "status", "--server", inference_server, "--token", "t0ken")
    assert result.returncode == 1
    assert result.stderr == (f"tessera: the server at {inference_server} does not offer the admin service: an "
                             "operator turns it on by starting the server with --admin-token-file FILE (or "
                             "--admin-token, or TESSERA_ADMIN_TOKEN) (Method not found!)\n")
