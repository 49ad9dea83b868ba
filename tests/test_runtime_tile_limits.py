"""A version whose runtime takes only cores up to some edge (a TensorRT plan's optimisation profile, its
`max_tile`) is offered, sent and checked tiles within it (LoadedVersion.tile_limits).

TensorRT cannot run on this machine, so the engine here is ONNX Runtime declaring a 64 px
`max_tile_core`, as a plan built for 64 px cores would, and recording the inputs it is given. Before,
the server offered every version the 16384 px edge of a long thin tile, and a plan's profile (1024 px)
would have failed such a tile at run time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest

import inference_server.model_version as model_version
from inference_server.config import parse_config
from inference_server.metrics import ServerMetrics
from inference_server.server import start
from tessera.client import TesseraClient
from tessera.imageio import decode_image, encode_image
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TINY_HALO, TinyGenerator, whole_image_reference, write_tiny_version

STYLE = "profiled"
CORE = 64  # the stand-in plan's max_tile


@pytest.fixture
def seen_inputs(monkeypatch) -> list[tuple[int, int]]:
    """(height, width) of every batch the versions' runtimes execute; their runtimes take cores up to CORE px."""
    seen: list[tuple[int, int]] = []
    chosen = model_version._fastest_runtime  # where a version with a TensorRT plan would get it

    def profiled(*args, **kwargs):
        runtime = chosen(*args, **kwargs)
        runtime.max_tile_core = CORE
        execute = runtime.execute

        def recorded(image, *rest, **options):
            seen.append(image.shape[2:])
            return execute(image, *rest, **options)

        runtime.execute = recorded
        return runtime

    monkeypatch.setattr(model_version, "_fastest_runtime", profiled)
    return seen


@contextmanager
def _server(registry: Path) -> Iterator[str]:
    config = parse_config(["--registry", str(registry), "--host", "127.0.0.1", "--port", "0", "--threads", "1",
                           "--warmup-runs", "0", "--poll-interval", "3600"], environ={})
    running = start(config, ServerMetrics())
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(1.0)


@pytest.fixture
def address(tmp_path, seen_inputs) -> Iterator[str]:
    registry = tmp_path / "registry"
    write_tiny_version(registry, STYLE, tmp_path)
    with _server(registry) as address:
        yield address


def _photo(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_the_version_offers_tiles_within_its_runtimes_core(address):
    with TesseraClient(address) as client:
        (style,) = client.list_styles()
    tiling = style.tiling
    assert (tiling.max_tile_size, tiling.max_tile_edge, tiling.max_tile_pixels) == (CORE, CORE, CORE * CORE)


def test_a_long_thin_photo_is_tiled_within_the_core_by_the_client_and_by_unary_stylize(address, seen_inputs):
    photo = _photo(300, 40)
    expected = whole_image_reference(TinyGenerator(0), photo)
    with TesseraClient(address) as client:
        assert_same_up_to_rounding(client.stylize(photo, STYLE).image, expected)
        streamed = list(seen_inputs)
        seen_inputs.clear()
        data, _ = client.stylize_encoded(encode_image(photo, "png"), STYLE, output_format="png")
    assert_same_up_to_rounding(decode_image(data), expected)
    assert streamed and seen_inputs
    for height, width in streamed + seen_inputs:  # a core and its halo on both sides, rounded to the stride
        assert max(height, width) <= CORE + 2 * TINY_HALO + 2, (height, width)


def test_a_tile_longer_than_the_core_is_refused_naming_the_limit(address):
    photo = _photo(128, 16)
    header = pb.StylizeTilesRequest(header=pb.StreamHeader(style=STYLE, image_width=128, image_height=16))
    tile = pb.StylizeTilesRequest(tile=pb.Tile(index=0, x=0, y=0, width=128, height=16, rgb=photo.tobytes()))
    with grpc.insecure_channel(address) as channel:
        replies = pb_grpc.StyleTransferStub(channel).StylizeTiles(iter([header, tile]), timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            list(replies)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"tile 128x16 exceeds the maximum tile edge of {CORE} px" in caught.value.details()
