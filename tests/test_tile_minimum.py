"""Tiles that end inside the image are at least the halo (tessera.tiling.min_core_edge) on that side,
so a client cannot make the server compute many times the pixels it keeps: the server refuses such a
tile with a sentence, and Tessera's own tile cutters (the client's forced tile size, its planner and
the server's unary call) never cut one. Here on the tiny model published with a 48 px halo, served
with the smallest default tile the server takes (16 px)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from scripts.local_stack import server_process
from tessera.client import TesseraClient
from tessera.imageio import decode_image, encode_image
from tessera.registry import write_version
from tessera.tiling import MIN_TILE_SIZE
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support.tiny_model import TinyGenerator, export_onnx, tiny_manifest

STYLE = "wide-halo"
HALO = 48


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory):
    registry, work = tmp_path_factory.mktemp("registry"), tmp_path_factory.mktemp("export")
    export_onnx(TinyGenerator(0), work / "model.onnx")
    write_version(registry, STYLE, {"model.onnx": work / "model.onnx"}, tiny_manifest(halo=HALO),
                  {"display_name": "Wide Halo", "description": "The tiny test model with a wide halo.",
                   "credits": "Made by the test suite.", "license": "Apache-2.0"})
    with server_process(registry, default_tile_size=MIN_TILE_SIZE, warmup_runs=0) as (_, address, _log):
        yield address


def photo(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (height, width, 3), np.uint8)


def stream(address: str, width: int, height: int, cores: list[tuple[int, int, int, int]]) -> grpc.RpcError | None:
    """Send one stream of zero-filled tiles with the required halo; the error it ends with, if any."""
    messages = [pb.StylizeTilesRequest(header=pb.StreamHeader(style=STYLE, image_width=width, image_height=height))]
    for index, (x, y, w, h) in enumerate(cores):
        x0, y0 = max(0, x - HALO), max(0, y - HALO)
        size = (min(width, x + w + HALO) - x0) * (min(height, y + h + HALO) - y0) * 3
        messages.append(pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=x, y=y, width=w, height=h,
                                                            rgb=bytes(size))))
    with grpc.insecure_channel(address) as channel:
        try:
            list(pb_grpc.StyleTransferStub(channel).StylizeTiles(iter(messages), timeout=30))
        except grpc.RpcError as error:
            return error
    return None


@pytest.mark.parametrize("core, words", [
    ((0, 0, 16, 200), "is 16 px wide and ends inside the 200x200 image"),
    ((0, 0, 200, 47), "is 47 px tall and ends inside the 200x200 image"),
    ((100, 100, 8, 8), "is 8 px wide and ends inside the 200x200 image"),
], ids=["narrow-column", "short-row", "small-square-inside"])
def test_a_tile_smaller_than_the_halo_inside_the_image_is_refused_with_a_sentence(address, core, words):
    error = stream(address, 200, 200, [core])
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.details() and f"at least {HALO} px on that side" in error.details()


def test_tiles_cut_to_the_image_at_its_far_edges_may_be_smaller(address):
    """A 100x60 image in 48 px cores: the last column (4 px) and row (12 px) are cut to the image."""
    cores = [(x, y, min(48, 100 - x), min(48, 60 - y)) for y in (0, 48) for x in (0, 48, 96)]
    assert stream(address, 100, 60, cores) is None


def test_the_client_raises_a_forced_tile_size_to_the_halo(address):
    seen = []
    with TesseraClient(address) as client:
        result = client.stylize(photo(100, 120), STYLE, tile_size=MIN_TILE_SIZE,
                                progress=lambda done, total: seen.append(total))
    assert result.image.shape == (100, 120, 3)
    assert seen[-1] == 3 * 3  # 48 px cores (the last ones cut to the image), not 7 x 8 of 16 px


def test_the_client_plans_tiles_at_least_as_large_as_the_halo_under_a_smaller_default_tile(address):
    """The server's default tile (16 px here) caps a planned tile's area, but not under the smallest
    tile it takes inside an image; before, the planner found no tile at all (a review found it)."""
    image = photo(300, 420)
    with TesseraClient(address) as client:
        result = client.stylize(image, STYLE)
    assert result.image.shape == image.shape


def test_the_unary_call_cuts_its_tiles_at_least_as_large_as_the_halo(address):
    """The server's default tile here is 16 px, under the style's 48 px halo."""
    image = photo(90, 130)
    with TesseraClient(address) as client:
        data, mime = client.stylize_encoded(encode_image(image, "png"), STYLE, output_format="png")
    assert mime == "image/png" and decode_image(data).shape == image.shape
