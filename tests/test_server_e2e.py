"""The real server process on loopback, driven through the client library and raw stubs."""

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tessera.client import TesseraClient, TesseraError
from tessera.imageio import decode_image, encode_image
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.bff.pictures import HEIC_HEAD, M4A_HEAD, animation, iso_media
from tests.support import TINY_STYLE
from tests.support.tiny_model import TinyGenerator, whole_image_reference


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: enough structure for the generator to differ per pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / max(width, 1), yy / max(height, 1), (xx + yy) / max(width + height, 1)], axis=-1) * 200
    return np.clip(base + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def client(inference_server):
    with TesseraClient(inference_server, timeout=30) as c:
        yield c


@pytest.fixture
def stub(inference_server):
    with grpc.insecure_channel(inference_server) as channel:
        yield pb_grpc.StyleTransferStub(channel)


@pytest.mark.parametrize(("height", "width", "tile"), [(333, 517, 64), (97, 131, 32), (1, 1, 64), (256, 256, 512)])
def test_tiled_output_equals_whole_image_output(client, height, width, tile):
    image = photo(height, width)
    result = client.stylize(image, TINY_STYLE, tile_size=tile)
    expected = whole_image_reference(TinyGenerator(0), image)
    assert result.image.shape == image.shape
    assert psnr(result.image, expected) >= 50.0


def test_strength_zero_returns_the_input_and_progress_counts_every_tile(client):
    image = photo(100, 150)
    seen = []
    result = client.stylize(image, TINY_STYLE, strength=0.0, tile_size=32, progress=lambda d, t: seen.append((d, t)))
    assert np.array_equal(result.image, image)
    assert seen[-1] == (20, 20) and [d for d, _ in seen] == list(range(1, 21))


def test_health_reports_serving_overall_and_per_style(inference_server):
    with grpc.insecure_channel(inference_server) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", f"style/{TINY_STYLE}", "tessera.v1.StyleTransfer"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_list_styles_describes_the_serving_version(client):
    (style,) = client.list_styles()
    assert (style.id, style.status, style.serving_version) == (TINY_STYLE, "SERVING", 1)
    assert style.tiling.halo == 16 and style.tiling.mode == "crop"


def test_unknown_style_is_not_found(client):
    with pytest.raises(TesseraError) as caught:
        client.stylize(photo(8, 8), "no-such-style")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "unknown style 'no-such-style'" in caught.value.message


def _header(**fields) -> pb.StylizeTilesRequest:
    values = {"style": TINY_STYLE, "image_width": 64, "image_height": 64, **fields}
    return pb.StylizeTilesRequest(header=pb.StreamHeader(**values))


def _tile(x=0, y=0, width=32, height=32, nbytes=None, index=0) -> pb.StylizeTilesRequest:
    # With a 16 px halo on a 64x64 image, the 32x32 core at (0, 0) pads to 48x48.
    size = nbytes if nbytes is not None else 48 * 48 * 3
    return pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=x, y=y, width=width, height=height, rgb=bytes(size)))


BAD_STREAMS = [
    ("no style", [_header(style="", image_width=0)], "a style is required"),  # before the header's other faults
    ("missing header", [_tile()], "first message of a StylizeTiles stream must be a StreamHeader"),
    ("empty stream", [], "first message of a StylizeTiles stream must be a StreamHeader"),
    ("wrong byte count", [_header(), _tile(nbytes=100)], "needs 6912 bytes of RGB8, got 100"),
    ("tile outside image", [_header(), _tile(x=48)], "reaches past the 64x64 image"),
    ("empty tile", [_header(), _tile(width=0)], "is empty"),
    ("second header", [_header(), _header()], "only the first message of a stream may be a header"),
    ("zero-sized image", [_header(image_width=0)], "must be at least 1x1"),
    ("strength out of range", [_header(strength=1.5)], "strength must be in [0, 1]"),
    ("halo too small", [_header(halo=2)], "halo 2 is smaller than the 16 px"),
    ("halo too large", [_header(halo=100_000)], "exceeds the largest halo the server accepts"),
    ("strip 2,000,000x1", [_header(image_width=2_000_000, image_height=1)], "at most 1,000 times the other"),
    ("strip 3x3001", [_header(image_width=3, image_height=3001)], "at most 1,000 times the other"),
    ("0x0 thumbnail", [_header(thumbnail=pb.RawImage(width=0, height=0))], "the header's thumbnail is 0x0 pixels"),
    ("5x0 thumbnail", [_header(thumbnail=pb.RawImage(width=5, height=0))], "the header's thumbnail is 5x0 pixels"),
    ("short thumbnail", [_header(thumbnail=pb.RawImage(width=2, height=2, rgb=bytes(11)))],
     "thumbnail of 2x2 needs 12 bytes of RGB8, got 11"),
]


@pytest.mark.parametrize(("name", "messages", "reason"), BAD_STREAMS, ids=[b[0] for b in BAD_STREAMS])
def test_malformed_streams_get_invalid_argument_and_the_server_keeps_serving(stub, client, name, messages, reason):
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.StylizeTiles(iter(messages), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in caught.value.details()
    image = photo(40, 40)
    assert client.stylize(image, TINY_STYLE).image.shape == image.shape


def test_oversized_image_is_invalid_argument_not_a_retryable_busy_signal(stub):
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.StylizeTiles(iter([_header(image_width=100_000, image_height=100_000)]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "exceeds the server's limit" in caught.value.details()


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_unary_stylize_keeps_size_and_format(client, fmt):
    image = photo(70, 90)
    data, mime = client.stylize_encoded(encode_image(image, fmt), TINY_STYLE)
    assert mime == f"image/{fmt}"
    assert decode_image(data).shape == image.shape


@pytest.mark.parametrize(("width", "height"), [(1_000_001, 1), (1, 1001), (4, 4001)])
def test_unary_stylize_refuses_long_thin_images_from_their_header(client, width, height):
    strip = encode_image(np.zeros((height, width, 3), np.uint8), "png")  # a few kB, thousands of tiles
    with pytest.raises(TesseraError) as caught:
        client.stylize_encoded(strip, TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{width}×{height} pixels: one side may be at most 1,000 times the other" in caught.value.message


def test_unary_stylize_serves_the_longest_shape_allowed(client):
    data, _ = client.stylize_encoded(encode_image(photo(2, 2000), "png"), TINY_STYLE)
    assert decode_image(data).shape == (2, 2000, 3)


@pytest.mark.parametrize(("request_fields", "words"), [
    ({"style": "", "image": b"GIF89a not supported"}, "a style is required"),
    ({"style": "", "image": b""}, "a style is required"),
    ({"style": TINY_STYLE, "image": b""}, "no image was sent: StylizeRequest.image takes the photo's encoded PNG"),
    ({"style": "no-such-style", "image": b""}, "no image was sent"),
], ids=["no-style", "nothing", "no-image", "no-image-unknown-style"])
def test_unary_stylize_says_what_was_left_out_before_reading_the_image(stub, request_fields, words):
    """An empty style was NOT_FOUND "unknown style ''", and an empty image "not a PNG, JPEG or WebP image"."""
    with pytest.raises(grpc.RpcError) as caught:
        stub.Stylize(pb.StylizeRequest(**request_fields), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in caught.value.details()


def test_unary_stylize_rejects_bytes_that_are_not_an_image(client):
    with pytest.raises(TesseraError) as caught:
        client.stylize_encoded(b"GIF89a not supported", TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a PNG, JPEG or WebP" in caught.value.message


@pytest.mark.parametrize(("fmt", "named"), [("GIF", "an animated GIF"), ("WEBP", "an animated WebP"),
                                            ("PNG", "an animated PNG")])
def test_unary_stylize_refuses_a_clip_instead_of_painting_its_first_frame(client, fmt, named):
    # Pillow opens an animated WebP or PNG as its first frame: the call painted that one and said nothing.
    with pytest.raises(TesseraError) as caught:
        client.stylize_encoded(animation(fmt, 3), TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the file is {named} clip of several frames" in caught.value.message
    assert "StylizeTiles" in caught.value.message


def test_unary_stylize_refuses_a_video_by_name(client):
    mp4_head = b"\x00\x00\x00\x20ftypisom" + bytes(20)
    with pytest.raises(TesseraError) as caught:
        client.stylize_encoded(mp4_head, TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "the file is an MP4 clip of several frames" in caught.value.message


@pytest.mark.parametrize("data", [iso_media("AVIF", 1), iso_media("AVIF", 2), HEIC_HEAD, M4A_HEAD],
                         ids=["avif", "avif-sequence", "heic", "m4a"])
def test_unary_stylize_calls_a_heic_avif_or_m4a_file_no_image_not_a_clip(client, data):
    # Their ftyp box made them "an MP4 clip" pointed to StylizeTiles, which could not read them either.
    with pytest.raises(TesseraError) as caught:
        client.stylize_encoded(data, TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a PNG, JPEG or WebP" in caught.value.message and "clip" not in caught.value.message


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_unary_stylize_paints_an_animation_of_one_frame_as_a_photo(client, fmt):
    data, _ = client.stylize_encoded(animation(fmt, 1), TINY_STYLE)
    assert decode_image(data).shape == (64, 96, 3)
