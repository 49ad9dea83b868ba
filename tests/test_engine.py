"""The server's one image path in process: an ImageJob on a loaded version, without gRPC."""

import numpy as np
import pytest

from inference_server.engine import ImageJob, ImageSpec, check_image
from inference_server.errors import InvalidRequest
from inference_server.model_version import LoadSettings, load_version
from tessera.canvas import Canvas
from tessera.tiling import Rect, plan_tiles
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference


@pytest.fixture(scope="module")
def model(tiny_registry):
    version = load_version(tiny_registry / TINY_STYLE / "1", LoadSettings(threads=1))
    yield version
    version.retire()


def test_regions_put_together_equal_the_whole_image_output(model):
    image = np.random.default_rng(3).integers(0, 256, size=(70, 90, 3), dtype=np.uint8)
    job = ImageJob(model, ImageSpec(width=90, height=70))
    canvas = Canvas(90, 70, "crop")
    pending = [job.stylize(core, image[job.padded(core).slices()]) for core in plan_tiles(90, 70, 32)]
    for region in pending:
        styled = region.result(timeout=30)
        assert styled.rect == region.core and styled.rgb.shape == (region.core.height, region.core.width, 3)
        canvas.add(styled.rect, styled.rgb.tobytes(), region.core)
    assert_same_up_to_rounding(canvas.image(), whole_image_reference(TinyGenerator(0), image))


def test_strength_zero_gives_back_the_core_of_the_input(model):
    image = np.random.default_rng(4).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    job = ImageJob(model, ImageSpec(width=40, height=40, strength=0.0))
    core = Rect(8, 8, 16, 16)
    styled = job.stylize(core, image[job.padded(core).slices()]).result(timeout=30)
    assert np.array_equal(styled.rgb, image[core.slices()])


@pytest.mark.parametrize(("spec", "reason"), [
    (ImageSpec(width=64, height=64, halo=2), "halo 2 is smaller than the 16 px"),
    (ImageSpec(width=64, height=64, halo=10_000), "exceeds the largest halo"),
])
def test_a_spec_the_version_cannot_serve_is_an_invalid_request(model, spec, reason):
    with pytest.raises(InvalidRequest, match=reason):
        ImageJob(model, spec)


@pytest.mark.parametrize(("core", "shape", "reason"), [
    (Rect(48, 0, 32, 32), (48, 48, 3), "reaches past the 64x64 image"),
    (Rect(0, 0, 0, 8), (0, 24, 3), "is empty"),
    (Rect(0, 0, 32, 32), (40, 40, 3), "needs 48x48 RGB8 pixels"),
])
def test_a_bad_region_is_an_invalid_request(model, core, shape, reason):
    job = ImageJob(model, ImageSpec(width=64, height=64))
    with pytest.raises(InvalidRequest, match=reason):
        job.stylize(core, np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize(("width", "height", "strength", "reason"), [
    (0, 5, 1.0, "must be at least 1x1"),
    (1000, 1000, 1.0, "exceeds the server's limit of 10,000 pixels"),
    (10, 10, -0.5, r"strength must be in \[0, 1\]"),
])
def test_check_image_refuses_before_any_lease(width, height, strength, reason):
    with pytest.raises(InvalidRequest, match=reason):
        check_image(width, height, strength, max_pixels=10_000)
