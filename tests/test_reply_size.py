"""Message sizes: a unary reply a default gRPC client could not receive is refused before any work, and a
message too large to be valid gets the server's INVALID_ARGUMENT, not gRPC's RESOURCE_EXHAUSTED."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from PIL import Image

from inference_server.reply_size import max_encoded_bytes
from scripts.local_stack import server_process
from tessera.client import TesseraClient
from tessera.imageio import encode_image
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import TINY_STYLE
from tests.support.metrics import counter_total

DEFAULT_LIMIT = 4 * 1024 * 1024


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 1), (1, 4000), (17, 300), (513, 257), (1000, 700)])
def test_the_worst_case_bound_holds_for_the_real_encoder_on_noise(fmt, width, height):
    noise = np.random.default_rng(width * height).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    assert len(encode_image(noise, fmt)) <= max_encoded_bytes(fmt, width, height)


def _noise_jpeg(width: int, height: int) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tiny_registry):
    with server_process(tiny_registry, metrics_port=0) as (_, address, log):
        yield address, log


def test_a_reply_too_large_for_a_default_client_is_refused_before_work_with_a_hint(server):
    address, log = server
    photo = _noise_jpeg(1800, 1200)  # as PNG up to 6.5 MB, more than a default client's 4 MiB
    tiles_before = counter_total(log, "tessera_batch_size_sum")
    with grpc.insecure_channel(address) as channel:  # a default client: 4 MiB receive limit
        stub = pb_grpc.StyleTransferStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Stylize(pb.StylizeRequest(style=TINY_STYLE, image=photo, output_format="png"), timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "PNG reply for a 1800x1200 image can be up to" in caught.value.details()
        assert "use StylizeTiles" in caught.value.details()
        assert counter_total(log, "tessera_batch_size_sum") == tiles_before  # no tile ran
        # JPEG fits the same client; so does PNG for a client that states a larger limit.
        jpeg = stub.Stylize(pb.StylizeRequest(style=TINY_STYLE, image=photo, output_format="jpeg"), timeout=60)
        assert jpeg.mime_type == "image/jpeg" and len(jpeg.image) < DEFAULT_LIMIT
    with TesseraClient(address, timeout=60) as client:  # sends max_reply_bytes = its own 64 MiB
        png, mime = client.stylize_encoded(photo, TINY_STYLE, output_format="png")
    assert mime == "image/png" and len(png) > DEFAULT_LIMIT  # the refusal was needed


def test_a_100_mb_tile_gets_invalid_argument_naming_its_size(server):
    address, _ = server
    header = pb.StreamHeader(style=TINY_STYLE, image_width=64, image_height=64)
    tile = pb.Tile(index=0, x=0, y=0, width=32, height=32, rgb=bytes(100_000_000))
    messages = [pb.StylizeTilesRequest(header=header), pb.StylizeTilesRequest(tile=tile)]
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)]) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            list(pb_grpc.StyleTransferStub(channel).StylizeTiles(iter(messages), timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 6912 bytes of RGB8, got 100000000" in caught.value.details()


def test_a_70_mb_unary_request_gets_invalid_argument_not_a_message_limit(server):
    address, _ = server
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)]) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.StyleTransferStub(channel).Stylize(pb.StylizeRequest(style=TINY_STYLE, image=bytes(70_000_000)),
                                                       timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a PNG, JPEG or WebP" in caught.value.details()
