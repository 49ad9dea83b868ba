"""Brush scale through every door against a real server: the client's stream (tiled or whole at the
working resolution), StylizeTiles with StreamHeader.scale (full-resolution tiles), the unary Stylize
call, the gateway's form and previews, and the CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from PIL import Image

from bff import close_app
from tessera import brush_scale
from tessera.client import TesseraClient
from tessera.imageio import encode_image
from tessera.tile_plan import TileLimits, choose_tile_shape
from tessera.tile_streams import StreamPool
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1.style_transfer_pb2_grpc import StyleTransferStub
from tests.bff.live import make_app, multipart, post_body, post_form, serving
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference


def photo(width: int = 300, height: int = 200, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, ((x // 30 + y // 30) % 2) * 180.0], axis=2)
    return np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


PHOTO = photo()


def reference(pixels: np.ndarray, scale: float, strength: float = 1.0, keep_colors: bool = False) -> np.ndarray:
    """The whole working-resolution image through PyTorch, enlarged and mixed as brush_scale does."""
    return brush_scale.scaled_stylize(pixels, scale, lambda small: whole_image_reference(TinyGenerator(0), small),
                                      strength=strength, keep_colors=keep_colors)


@pytest.fixture(scope="module")
def client(inference_server):
    with TesseraClient(inference_server, timeout=60) as c:
        yield c


@pytest.mark.parametrize("tile_size", [16, 48, None])
def test_tiles_at_the_working_resolution_give_the_whole_image_result(client, tile_size):
    result = client.stylize(PHOTO, TINY_STYLE, scale=0.4, tile_size=tile_size)
    assert result.image.shape == PHOTO.shape
    assert_same_up_to_rounding(result.image, reference(PHOTO, 0.4))


def test_strength_mixes_with_the_full_size_photo(client):
    mixed = client.stylize(PHOTO, TINY_STYLE, scale=0.5, strength=0.3).image
    full = client.stylize(PHOTO, TINY_STYLE, scale=0.5).image.astype(np.float32)
    # What a page does with the strength-1 result and the photo, give or take the rounding of `full`.
    assert np.abs(mixed - (0.3 * full + 0.7 * PHOTO)).max() <= 1.0


def test_unary_stylize_takes_the_scale(client, inference_server):
    data, mime = client.stylize_encoded(encode_image(PHOTO, "png"), TINY_STYLE, scale=0.4, keep_colors=True)
    assert mime == "image/png"
    assert_same_up_to_rounding(np.asarray(Image.open(io.BytesIO(data))), reference(PHOTO, 0.4, keep_colors=True))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):  # the client refuses it before sending
        client.stylize_encoded(encode_image(PHOTO, "png"), TINY_STYLE, scale=1.5)
    # and the server, for a client that sends it anyway
    with grpc.insecure_channel(inference_server) as channel, pytest.raises(grpc.RpcError) as err:
        StyleTransferStub(channel).Stylize(pb.StylizeRequest(style=TINY_STYLE, image=encode_image(PHOTO, "png"),
                                                             scale=1.5), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "(0, 1]" in err.value.details()


def header_scaled(address: str, pixels: np.ndarray, scale: float, tile_size: int | None = None,
                  style: str = TINY_STYLE, **options) -> np.ndarray:
    """Full-resolution tiles through StylizeTiles with StreamHeader.scale (the server works at the
    working resolution); the assembled full-size result."""
    with grpc.insecure_channel(address) as channel:
        pool = StreamPool(StyleTransferStub(channel), pixels, style, options.pop("strength", 1.0), 0,
                          time.monotonic() + 60, 2, scale=scale, **options)
        return pool.run(tile_size, None)[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def assert_seam_free(actual: np.ndarray, expected: np.ndarray) -> None:
    """The repo's bar for tiled against whole (50 dB), and never more than one level apart. A model's
    last-bit differences between tile shapes move a styled pixel by one level; the enlargement spreads
    that over the cells around it, so more values differ by one than at full resolution."""
    assert actual.shape == expected.shape
    assert np.abs(actual.astype(np.int16) - expected).max() <= 1 and psnr(actual, expected) >= 50.0


@pytest.mark.parametrize("tile_size", [24, 64, None])
def test_stream_header_scale_tiles_give_the_whole_image_and_the_unary_result(client, inference_server, tile_size):
    streamed = header_scaled(inference_server, PHOTO, 0.4, tile_size)
    assert_seam_free(streamed, reference(PHOTO, 0.4))
    data, _ = client.stylize_encoded(encode_image(PHOTO, "png"), TINY_STYLE, scale=0.4)
    assert_seam_free(streamed, np.asarray(Image.open(io.BytesIO(data))))


def test_stream_header_scale_mixes_strength_and_keeps_colours_at_full_size(inference_server):
    streamed = header_scaled(inference_server, PHOTO, 0.3, 48, strength=0.6, keep_colors=True)
    assert_seam_free(streamed, reference(PHOTO, 0.3, strength=0.6, keep_colors=True))


def first_reply(address: str, header: pb.StreamHeader, tile: pb.Tile | None = None):
    """The first answer to a stream of `header` (and `tile`), or the RpcError ending it."""
    requests = [pb.StylizeTilesRequest(header=header)] + ([pb.StylizeTilesRequest(tile=tile)] if tile else [])
    with grpc.insecure_channel(address) as channel:
        try:
            return next(iter(StyleTransferStub(channel).StylizeTiles(iter(requests), timeout=30)))
        except grpc.RpcError as error:
            return error


def test_stream_header_scale_is_echoed_and_bad_ones_are_refused_before_any_tile(inference_server):
    header = pb.StreamHeader(style=TINY_STYLE, image_width=300, image_height=200)
    plain = first_reply(inference_server, header)
    assert plain.accepted.scale == 1.0
    header.scale = 0.25
    scaled = first_reply(inference_server, header)
    assert scaled.accepted.scale == 0.25 and scaled.accepted.tiling.halo > 4 * plain.accepted.tiling.halo
    for change, words in [({"scale": 1.5}, "(0, 1]"), ({"scale": 0.0}, "(0, 1]"),
                          ({"halo": plain.accepted.tiling.halo}, "at brush scale 0.25"),
                          ({"explain": True}, "explain and a brush scale")]:
        bad = pb.StreamHeader(style=TINY_STYLE, image_width=300, image_height=200, **{"scale": 0.25, **change})
        error = first_reply(inference_server, bad)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and words in error.details(), change


def test_a_brush_scale_whose_tiles_could_not_be_sent_is_refused_at_the_header(inference_server):
    """0.01 on a 150 MP photo makes the halo about 2400 px: no tile with it fits the 60 MiB a tile may
    carry, by the plan the client would cut, so the header is refused with the remedy; 0.02 (about
    1200 px) is taken, and the client's planner cuts it."""
    header = pb.StreamHeader(style=TINY_STYLE, image_width=15_000, image_height=10_000, scale=0.02)
    halo = first_reply(inference_server, header).accepted.tiling.halo
    assert halo > 1024 and choose_tile_shape(15_000, 10_000, TileLimits(halo=halo, size_multiple=1))
    header.scale = 0.01
    error = first_reply(inference_server, header)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    needed = int(re.search(r"needs a (\d+) px halo", error.details()).group(1))
    assert needed > 2 * halo - 10
    with pytest.raises(ValueError, match="MiB with its halo"):
        choose_tile_shape(15_000, 10_000, TileLimits(halo=needed, size_multiple=1))
    assert "no tile with it fits the 60 MiB a tile may carry" in error.details()
    assert "use a larger brush scale" in error.details()


@pytest.fixture(scope="module")
def gateway(inference_server):
    app = make_app(servers=(inference_server,), preview_size=100)
    with serving(app) as base:
        yield base
    close_app(app)


def post_image(url: str, fields: dict) -> tuple[int, bytes]:
    return post_body(url, *multipart(fields, {"image": ("p.png", encode_image(PHOTO, "png"))}), timeout=60)


def test_the_gateway_takes_a_scale_field(gateway):
    status, data = post_image(f"{gateway}/api/stylize", {"style": TINY_STYLE, "scale": "0.4", "strength": "0.6"})
    assert status == 200
    assert_same_up_to_rounding(np.asarray(Image.open(io.BytesIO(data))), reference(PHOTO, 0.4, strength=0.6))
    status, answer = post_image(f"{gateway}/api/jobs", {"style": TINY_STYLE, "scale": "0"})
    assert status == 400 and b"invalid_scale" in answer
    # 'auto' on a photo smaller than the default working side is full resolution, as before.
    status, auto = post_image(f"{gateway}/api/stylize", {"style": TINY_STYLE, "scale": "auto", "format": "png"})
    assert status == 200
    assert_same_up_to_rounding(np.asarray(Image.open(io.BytesIO(auto))), whole_image_reference(TinyGenerator(0), PHOTO))


def test_a_scale_too_small_for_the_photo_is_refused_in_words_at_every_door(client, inference_server, gateway,
                                                                         tmp_path):
    """0.01 would paint the 300x200 photo at 3x2 px (a new user's trial sent 1e-300 and got a smear):
    the client, unary Stylize, StreamHeader.scale, the gateway's form and previews, and the CLI all
    refuse it before any work, naming the smallest scale (0.0517: 16 px on the long side)."""
    words = "brush scale 0.01 would paint this 300x200 image at 3x2 px"
    with pytest.raises(ValueError, match=words):
        client.stylize(PHOTO, TINY_STYLE, scale=0.01)
    with grpc.insecure_channel(inference_server) as channel, pytest.raises(grpc.RpcError) as unary:
        StyleTransferStub(channel).Stylize(pb.StylizeRequest(style=TINY_STYLE, image=encode_image(PHOTO, "png"),
                                                             scale=0.01), timeout=30)
    assert unary.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in unary.value.details()
    error = first_reply(inference_server, pb.StreamHeader(style=TINY_STYLE, image_width=300, image_height=200,
                                                          scale=0.01))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "the scale at least 0.0517" in error.details()
    for route in ("stylize", "jobs"):
        status, answer = post_image(f"{gateway}/api/{route}", {"style": TINY_STYLE, "scale": "0.01"})
        refusal = json.loads(answer)
        assert status == 400 and refusal["error"] == "invalid_scale" and refusal["message"] == f"B{words[1:]}; " \
            "its long side must stay at least 16 px, so the scale at least 0.0517."
    upload = multipart({}, {"image": ("p.png", encode_image(PHOTO, "png"))})
    _, stored = post_form(f"{gateway}/api/photos", *upload)
    with pytest.raises(urllib.error.HTTPError) as preview:
        urllib.request.urlopen(f"{gateway}{stored['url']}/previews/{TINY_STYLE}?scale=0.01", timeout=60)
    with preview.value as reply:
        assert reply.code == 400 and b"invalid_scale" in reply.read()
    assert client.stylize(PHOTO, TINY_STYLE, scale=0.0517).image.shape == PHOTO.shape
    photo = tmp_path / "p.png"
    photo.write_bytes(encode_image(PHOTO, "png"))
    cli = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(photo), "-o", str(tmp_path / "o.png"),
                          "--style", TINY_STYLE, "--scale", "0.01", "--server", inference_server],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and words in cli.stderr and not (tmp_path / "o.png").exists()


def test_a_scaled_preview_is_the_scaled_result_shrunk(gateway):
    upload = multipart({}, {"image": ("p.png", encode_image(PHOTO, "png"))})
    status, stored = post_form(f"{gateway}/api/photos", *upload)
    assert status == 201
    with urllib.request.urlopen(f"{gateway}{stored['url']}/previews/{TINY_STYLE}?scale=0.2", timeout=60) as resp:
        preview = np.asarray(Image.open(io.BytesIO(resp.read())), dtype=np.float32)
        assert resp.headers["X-Tessera-Scale"] == "0.2" and resp.headers["X-Tessera-Preview-Exact"] == "true"
    shrunk = brush_scale.shrink(reference(PHOTO, 0.2), (100, 67)).astype(np.float32)
    assert preview.shape == shrunk.shape
    assert np.abs(preview - shrunk).mean() < 4  # JPEG, and the enlargement done at 100 px instead of 300


def test_the_cli_takes_scale(inference_server, tmp_path):
    Image.fromarray(PHOTO).save(tmp_path / "p.png")
    run = [sys.executable, "-m", "tessera.cli", "stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"),
           "--style", TINY_STYLE, "--server", inference_server]
    done = subprocess.run([*run, "--scale", "0.4"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "brush scale 0.4" in done.stdout
    assert_same_up_to_rounding(np.asarray(Image.open(tmp_path / "o.png")), reference(PHOTO, 0.4))
    bad = subprocess.run([*run, "--scale", "3"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "scale must be a number in (0, 1]" in bad.stderr
