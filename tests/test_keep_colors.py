"""Keep colours: the result's luminance with the photo's chroma, for fixed styles, tiled and unary."""

from pathlib import Path

import grpc
import numpy as np
import pytest

from tessera.client import TesseraClient, TesseraError
from tessera.colors import from_ycbcr, keep_colors, to_ycbcr
from tessera.imageio import decode_image, encode_image
from tessera.style_sources import StyleSource, parse_mix
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import TINY_STYLE
from tests.test_server_e2e import photo


def _unclipped_error(result: np.ndarray, reference: np.ndarray, channels: slice) -> float:
    """Largest YCbCr difference in ``channels`` where no channel of the result sits at 0 or 255 (clipped)."""
    inside = ((result > 0) & (result < 255)).all(axis=-1)
    assert inside.mean() > 0.5, "the test image should mostly stay inside the RGB cube"
    return float(np.abs(to_ycbcr(result)[inside][:, channels] - to_ycbcr(reference)[inside][:, channels]).max())


def _unclipped_chroma_error(result: np.ndarray, reference: np.ndarray) -> float:
    return _unclipped_error(result, reference, slice(1, 3))


def _unclipped_luma_error(result: np.ndarray, reference: np.ndarray) -> float:
    return _unclipped_error(result, reference, slice(0, 1))


def test_keep_colors_takes_chroma_from_the_photo_and_luma_from_the_styled():
    rng = np.random.default_rng(0)
    photo_rgb = rng.integers(40, 216, size=(64, 64, 3), dtype=np.uint8)
    styled = rng.integers(40, 216, size=(64, 64, 3), dtype=np.uint8)
    kept = keep_colors(styled, photo_rgb)
    # RGB8 rounding moves Y, Cb and Cr by at most about one level each.
    assert _unclipped_chroma_error(kept, photo_rgb) <= 1.0
    assert _unclipped_luma_error(kept, styled) <= 1.0
    assert np.array_equal(from_ycbcr(to_ycbcr(photo_rgb)), photo_rgb)  # the conversion round-trips


def test_keep_colors_refuses_different_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        keep_colors(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


@pytest.fixture
def client(inference_server):
    with TesseraClient(inference_server, timeout=30) as c:
        yield c


def test_a_fixed_style_keeps_the_photos_colours_over_tiles(client):
    image = photo(150, 210)
    plain = client.stylize(image, TINY_STYLE, tile_size=64).image
    kept = client.stylize(image, TINY_STYLE, tile_size=64, keep_colors=True).image
    assert _unclipped_chroma_error(kept, image) <= 1.0
    assert _unclipped_luma_error(kept, plain) <= 1.0
    assert _unclipped_chroma_error(plain, image) > 5.0  # without the switch the style's colours stay


def test_unary_stylize_keeps_colours_too(client):
    image = photo(90, 120, seed=3)
    data, _ = client.stylize_encoded(encode_image(image, "png"), TINY_STYLE, keep_colors=True)
    assert _unclipped_chroma_error(decode_image(data), image) <= 1.0


def test_a_fixed_style_refuses_presets_and_style_images(inference_server):
    image = photo(40, 40)
    with grpc.insecure_channel(inference_server) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        request = pb.StylizeRequest(style=TINY_STYLE, image=encode_image(image, "png"),
                                    style_sources=[pb.StyleSource(preset="swirls")])
        with pytest.raises(grpc.RpcError) as caught:
            stub.Stylize(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fixed style" in caught.value.details()


@pytest.mark.parametrize(("source", "message"), [
    (pb.StyleSource(preset="Bad Id"), "fixed style: it takes no presets"),  # ids are judged by the style's own
    (pb.StyleSource(preset="x", weight=-1), "weight must be a number >= 0"),
    (pb.StyleSource(image=b"not an image"), "style image"),
    (pb.StyleSource(), "neither a preset nor a style image"),
    # empty: "unknown preset ''" and "the file is not a PNG, JPEG or WebP image" before
    (pb.StyleSource(preset=""), "the first style source's preset is empty: name one of the style's presets"),
    (pb.StyleSource(image=b""), "the first style source's style image is empty: send the painting's encoded"),
])
def test_bad_style_sources_are_invalid_argument_in_unary_calls(inference_server, source, message):
    request = pb.StylizeRequest(style=TINY_STYLE, image=encode_image(photo(40, 40), "png"), style_sources=[source])
    with grpc.insecure_channel(inference_server) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.StyleTransferStub(channel).Stylize(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()


def test_a_bad_style_image_ends_a_tile_stream_with_invalid_argument(client):
    with pytest.raises(TesseraError) as caught:
        client.stylize(photo(40, 40), TINY_STYLE, style_sources=[StyleSource(image=b"junk bytes")])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "style image" in caught.value.message


def test_client_style_sources_check_their_fields():
    with pytest.raises(ValueError, match="either a preset id or a style image"):
        StyleSource()
    with pytest.raises(ValueError, match="weight"):
        StyleSource(preset="a", weight=float("nan"))
    assert parse_mix("a/b.jpg:0.3") == (Path("a/b.jpg"), 0.3)
    assert parse_mix("c.png")[1] == 0.5  # the default share, as REST's mix and the page's slider
    assert parse_mix("d:e.png") == (Path("d:e.png"), 0.5)  # a colon in the file name
    for bad in ("x.jpg:1.5", "x.jpg:-0.1", "x.jpg:nan"):
        with pytest.raises(ValueError, match="share .* must be a number from 0 to 1"):
            parse_mix(bad)


def test_cli_keep_colors_and_a_missing_style_image_say_so(inference_server, tmp_path):
    from tests.test_cli import tessera

    image = photo(80, 100, seed=5)
    (tmp_path / "p.png").write_bytes(encode_image(image, "png"))
    done = tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                   "--keep-colors", "--server", inference_server)
    assert done.returncode == 0, done.stderr
    assert _unclipped_chroma_error(decode_image((tmp_path / "o.png").read_bytes()), image) <= 1.0
    missing = tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--style-image",
                      str(tmp_path / "nope.jpg"), "--server", inference_server)
    assert missing.returncode == 1 and "cannot read the style image" in missing.stderr
    assert "Traceback" not in missing.stderr


WEIGHT_BOUND = "a style source's weight must be a number >= 0 and at most 3.403e+38 (a 32-bit float)"


@pytest.mark.parametrize(("args", "message"), [
    (["--style-image", "{empty}"], "the style image {empty} is empty"),
    (["--style-image", "{painting}", "--mix", "{empty}:0.3"], "the style image {empty} is empty"),
    (["--mix", "{painting}:0.3"], "--mix mixes a style image into a first style"),
    (["--style-image", "{painting}", "--mix", "{painting}:0.7", "--mix", "{painting}:0.6"],
     "the --mix shares add up to 1.3"),
    (["--style-image", "{painting}", "--mix", "{painting}:abc"], "a share after ':' must be a number from 0 to 1"),
    (["--preset", "mosaic:x"], "the weight in --preset 'mosaic:x' must be a number, got 'x'"),
    (["--preset", "mosaic:-1"], "--preset 'mosaic:-1': " + WEIGHT_BOUND + ", got -1.0"),
    # the upper bound was not said: "must be a number >= 0" for a weight that is one
    (["--preset", "mosaic:1e39"], "--preset 'mosaic:1e39': " + WEIGHT_BOUND + ", got 1e+39"),
    (["--preset", ":0.3"], "--preset ':0.3' names no preset id"),
    (["--preset", "mosaic:inf"], "--preset 'mosaic:inf': " + WEIGHT_BOUND + ", got inf"),
    (["--style-image", "{painting}", "--mix", "{painting}:1.5"], "the share in '{painting}:1.5' must be a number"),
])
def test_cli_look_mistakes_are_one_sentence_before_any_painting(tmp_path, args, message):
    from tests.test_cli import tessera

    (tmp_path / "p.png").write_bytes(encode_image(photo(40, 40), "png"))
    names = {"empty": tmp_path / "empty.png", "painting": tmp_path / "a.png"}
    names["empty"].write_bytes(b"")
    names["painting"].write_bytes(encode_image(photo(32, 32, seed=2), "png"))
    filled = [a.format(**names) for a in args]
    # No server listens on this port: the look is refused before any connection is needed.
    done = tessera("stylize", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), *filled,
                   "--server", "127.0.0.1:9")
    assert done.returncode != 0 and message.format(**names) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # A flag spelt wrongly is a bad flag (2, as --strength 2 is); a file or a mix that cannot be used is 1.
    bad_flag = any(a.startswith("--preset") for a in args) or message.startswith("the share in")
    assert done.returncode == (2 if bad_flag else 1), done.stderr
