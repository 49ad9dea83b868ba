"""A version whose manifest lists a TensorRT plan is offered, sent and checked tiles within the plan's
square profile (its `max_tile`: LoadedVersion.tile_limits), on every replica alike, GPU or not.

Before, the server offered every version the 16384 px edge of a long thin strip, which a plan's profile
(1024 px) would have failed at run time. TensorRT cannot run on this machine (no GPU): the version here
lists a plan that no server here loads, so it is served by ONNX Runtime, as a CPU replica of a fleet
would serve it, and the engine's inputs are recorded to see what it is given."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

import inference_server.model_version as model_version
from tessera.client import TesseraClient
from tessera.imageio import decode_image, encode_image
from tessera.registry import write_version
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support.images import assert_same_up_to_rounding
from tests.support.server_here import server_here
from tests.support.tiny_model import TINY_HALO, TinyGenerator, export_onnx, tiny_manifest, whole_image_reference

STYLE = "profiled"
CORE = 1024  # the listed plan's max_tile: the smallest a server uses (tensorrt_runtime.plan_limits_problem)
PLAN = {"file": "model.sm86.trt10.plan", "compute_capability": "8.6", "tensorrt_version": "10.3.0",
        "precision": "fp16", "min_tile": 4, "opt_tile": 512, "max_tile": CORE, "max_batch": 8}


@pytest.fixture
def seen_inputs(monkeypatch) -> list[tuple[int, int]]:
    """(height, width) of every batch the versions' runtimes execute."""
    seen: list[tuple[int, int]] = []
    chosen = model_version._fastest_runtime

    def recording(*args, **kwargs):
        runtime = chosen(*args, **kwargs)
        execute = runtime.execute

        def recorded(image, *rest, **options):
            seen.append(image.shape[2:])
            return execute(image, *rest, **options)

        runtime.execute = recorded
        return runtime

    monkeypatch.setattr(model_version, "_fastest_runtime", recording)
    return seen


def write_version_with_plan(registry: Path, workdir: Path) -> None:
    onnx_path = workdir / "tiny.onnx"
    export_onnx(TinyGenerator(0), onnx_path)
    plan = workdir / PLAN["file"]
    plan.write_bytes(b"a TensorRT plan for a GPU this machine does not have")
    manifest = tiny_manifest()
    manifest["artifacts"]["tensorrt"] = [PLAN]
    write_version(registry, STYLE, {"model.onnx": onnx_path, PLAN["file"]: plan}, manifest,
                  {"display_name": "Profiled", "description": "A tiny style with a plan.", "credits": "Tests.",
                   "license": "Apache-2.0"})


@pytest.fixture
def address(tmp_path, seen_inputs) -> Iterator[str]:
    registry = tmp_path / "registry"
    write_version_with_plan(registry, tmp_path)
    with server_here(registry) as address:
        yield address


def _photo(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_the_version_offers_tiles_within_its_plans_core(address):
    with TesseraClient(address) as client:
        (style,) = client.list_styles()
    tiling = style.tiling
    assert (tiling.max_tile_size, tiling.max_tile_edge, tiling.max_tile_pixels) == (CORE, CORE, CORE * CORE)


def test_a_long_thin_photo_is_tiled_within_the_core_by_the_client_and_by_unary_stylize(address, seen_inputs):
    photo = _photo(6000, 32)  # the client cuts it in strips of 1200-2000 px where the edge allows
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
    photo = _photo(2048, 16)
    header = pb.StylizeTilesRequest(header=pb.StreamHeader(style=STYLE, image_width=2048, image_height=16))
    tile = pb.StylizeTilesRequest(tile=pb.Tile(index=0, x=0, y=0, width=2048, height=16, rgb=photo.tobytes()))
    with grpc.insecure_channel(address) as channel:
        replies = pb_grpc.StyleTransferStub(channel).StylizeTiles(iter([header, tile]), timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            list(replies)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"tile 2048x16 exceeds the maximum tile edge of {CORE} px" in caught.value.details()


@pytest.mark.parametrize("scale", [0.999, 0.5])
def test_a_stream_at_a_brush_scale_takes_the_largest_cores_it_was_offered(address, scale):
    """A core at full resolution becomes working cells shrunk by the scale plus the windows around them;
    at scale 0.999 a stream was offered 1024 px cores and refused one ("tile 1028x1028 has 1,056,784
    pixels"), naming a tile the client never sent. Now the offer leaves room for the windows."""
    width, height = 3000, 1100
    photo = _photo(width, height)
    header = pb.StreamHeader(style=STYLE, image_width=width, image_height=height, scale=scale)
    requests: queue.SimpleQueue = queue.SimpleQueue()
    requests.put(pb.StylizeTilesRequest(header=header))
    with grpc.insecure_channel(address) as channel:
        replies = pb_grpc.StyleTransferStub(channel).StylizeTiles(iter(requests.get, None), timeout=120)
        tiling = next(replies).accepted.tiling
        assert tiling.max_tile_edge <= CORE and tiling.default_tile_size <= tiling.max_tile_size
        side = tiling.max_tile_size  # the largest square: its pixels are within max_tile_pixels
        longest = min(tiling.max_tile_edge, width)  # and as tall as the offered area allows
        strip = (longest, min(tiling.max_tile_edge, height, tiling.max_tile_pixels // longest))
        for index, (core_w, core_h) in enumerate([(side, side), strip]):
            padded = photo[:min(height, core_h + tiling.halo), :min(width, core_w + tiling.halo)]
            requests.put(pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=0, y=0, width=core_w, height=core_h,
                                                             rgb=np.ascontiguousarray(padded).tobytes())))
        requests.put(None)
        tiles = [reply.tile for reply in replies]
    assert [(t.width, t.height) for t in tiles] == [(side, side), strip]
