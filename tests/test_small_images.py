"""Images too small, or too thin, for a style's image-wide statistics (tessera/small_images.py and
tessera.imageio.statistics_thumbnail): a 10x10 photo came back black in umber-oil, blue-ink and
teacher-26, 12-14 px ones far off, and strips from about 6000x16 half black and white. Now they are
painted as the same photo at a comfortable size is, through the client, unary Stylize and the gateway's
path alike, and a raw stream that sends one is refused in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest
import skimage.data
from PIL import Image

from scripts.local_stack import running_server
from tessera import small_images
from tessera.client import TesseraClient
from tessera.imageio import decode_image, encode_image, statistics_thumbnail
from tessera.registry import version_dirs
from tessera.tiling import thumbnail_shape
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1.style_transfer_pb2_grpc import StyleTransferStub

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry"
STYLE = "umber-oil"  # a student with a context model (image-wide statistics)
ASTRONAUT = skimage.data.astronaut()


def astronaut(width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(ASTRONAUT).resize((width, height), Image.Resampling.BOX))


def saturated(image: np.ndarray) -> float:
    """The share of values at black or white."""
    return float(np.mean((image < 5) | (image > 250)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    registry = tmp_path_factory.mktemp("small")
    newest = max(version_dirs(SHIPPED / STYLE).items())[1]
    (registry / STYLE).mkdir()
    shutil.copy(SHIPPED / STYLE / "style.json", registry / STYLE / "style.json")
    shutil.copytree(newest, registry / STYLE / newest.name)
    with running_server(registry, threads=2) as address:
        yield address


@pytest.fixture(scope="module")
def reference_mean(server) -> float:
    """The mean value of the astronaut painted at 64x64, a size the network paints as a picture."""
    with TesseraClient(server, timeout=120) as client:
        return float(client.stylize(astronaut(64, 64), STYLE).image.mean())


@pytest.mark.parametrize("side", [1, 4, 10, 12, 14])
def test_a_tiny_photo_is_painted_as_a_larger_one_is_through_the_client(server, reference_mean, side):
    with TesseraClient(server, timeout=120) as client:
        result = client.stylize(astronaut(side, side), STYLE)
    assert result.image.shape == (side, side, 3)
    assert abs(float(result.image.mean()) - reference_mean) < 10, (result.image.mean(), reference_mean)


@pytest.mark.parametrize(("width", "height"), [(10, 10), (40, 9)])
def test_a_tiny_photo_is_painted_as_a_larger_one_is_through_unary_stylize(server, reference_mean, width, height):
    with TesseraClient(server, timeout=120) as client:
        data, _ = client.stylize_encoded(encode_image(astronaut(width, height), "png"), STYLE, output_format="png")
    image = decode_image(data)
    assert image.shape == (height, width, 3)
    assert abs(float(image.mean()) - reference_mean) < 12, (image.mean(), reference_mean)


def test_a_brush_scale_that_leaves_a_tiny_working_image_paints_it_enlarged(server, reference_mean):
    """2000x40 at 0.125 works at 250x5: that working image is enlarged too, on both paths."""
    photo = astronaut(2000, 40)
    with TesseraClient(server, timeout=120) as client:
        streamed = client.stylize(photo, STYLE, scale=0.125).image
        unary = decode_image(client.stylize_encoded(encode_image(photo, "png"), STYLE, output_format="png",
                                                    scale=0.125)[0])
    for image in (streamed, unary):
        assert saturated(image) < 0.01 and abs(float(image.mean()) - reference_mean) < 15, image.mean()


@pytest.mark.parametrize(("width", "height"), [(8000, 16), (12000, 24)])
def test_a_long_thin_strip_keeps_its_statistics(server, reference_mean, width, height):
    """Half the strip's values came back black or white."""
    with TesseraClient(server, timeout=120) as client:
        result = client.stylize(astronaut(width, height), STYLE).image
    assert saturated(result) < 0.01
    assert abs(float(result.mean()) - reference_mean) < 10, result.mean()


def test_a_raw_stream_of_a_tiny_image_is_refused_in_words_before_any_tile(server):
    header = pb.StreamHeader(style=STYLE, image_width=10, image_height=10,
                             thumbnail=pb.RawImage(width=10, height=10, rgb=astronaut(10, 10).tobytes()))
    with grpc.insecure_channel(server) as channel, pytest.raises(grpc.RpcError) as error:
        next(iter(StyleTransferStub(channel).StylizeTiles(iter([pb.StylizeTilesRequest(header=header)]),
                                                           timeout=60)))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too small for style umber-oil's image-wide statistics" in error.value.details()
    assert "at least 16 px on its short side" in error.value.details()


@pytest.mark.parametrize(("width", "height", "factor"), [(1, 1, 16), (10, 10, 2), (15, 200, 2), (16, 3, 6),
                                                         (16, 16, 1), (400, 300, 1)])
def test_the_enlargement_is_the_smallest_whole_factor_reaching_16_px(width, height, factor):
    assert small_images.enlargement(width, height) == factor
    assert min(width, height) * factor >= 16


def test_shrinking_back_an_enlarged_image_gives_it_back_exactly_and_rounds_blocks_half_up():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for factor in (1, 2, 3, 16):
        enlarged = small_images.enlarge(image, factor)
        assert enlarged.shape == (5 * factor, 7 * factor, 3)
        assert np.array_equal(small_images.shrink_back(enlarged, factor), image)
    block = np.array([[[0], [1]], [[1], [1]]], np.uint8)  # mean 0.75: rounds to 1; 0.5 rounds up too
    assert small_images.shrink_back(block, 2).item() == 1
    assert small_images.shrink_back(np.array([[[0], [1]], [[0], [1]]], np.uint8), 2).item() == 1
    with pytest.raises(ValueError, match="not 2 times"):
        small_images.shrink_back(np.zeros((3, 4, 3), np.uint8), 2)


def test_a_statistics_thumbnail_squeezes_a_strip_along_its_length_only():
    assert statistics_thumbnail(np.zeros((16, 8000, 3), np.uint8), 512).shape == (16, 512, 3)
    assert statistics_thumbnail(np.zeros((9, 8000, 3), np.uint8), 512).shape == (9, 512, 3)
    assert statistics_thumbnail(np.zeros((3000, 4000, 3), np.uint8), 512).shape == (384, 512, 3)
    assert thumbnail_shape(8000, 16, 512) == (512, 1)  # previews keep the plain shrink
