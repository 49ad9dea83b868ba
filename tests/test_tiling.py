"""Tile geometry: cores cover every pixel once; padded rectangles and feathering behave."""

import numpy as np
import pytest

from tessera.canvas import Canvas
from tessera.pixels import repeat_to_min_edge
from tessera.tiling import (
    MAX_TILE_PIXELS,
    Rect,
    core_error,
    feather_weights,
    min_core_edge,
    min_tile_edge,
    padded_rect,
    plan_tiles,
    tile_size_for,
)

SIZES = [(1, 1), (1, 7), (7, 1), (2, 3), (13, 17), (31, 97), (64, 64), (100, 37), (257, 129), (1000, 999)]


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("tile", [3, 8, 64, 100])
def test_every_pixel_is_covered_by_exactly_one_core(width, height, tile):
    coverage = np.zeros((height, width), dtype=np.int32)
    for core in plan_tiles(width, height, tile):
        assert core_error(core, width, height, max_size=tile) is None
        coverage[core.slices()] += 1
    assert (coverage == 1).all()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 3), (13, 17), (31, 7)])
def test_one_pixel_tiles_cover_small_images_exactly_once(width, height):
    coverage = np.zeros((height, width), dtype=np.int32)
    for core in plan_tiles(width, height, 1):
        coverage[core.slices()] += 1
    assert (coverage == 1).all()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_crop_canvas_places_every_result_where_its_core_lies(width, height):
    # Values 1..255: a pixel no result covered would stay 0 on the canvas. That each pixel is
    # covered once only is the planner's promise, checked above.
    rng = np.random.default_rng(width * height)
    image = rng.integers(1, 256, size=(height, width, 3), dtype=np.uint8)
    canvas = Canvas(width, height, "crop")
    for core in plan_tiles(width, height, 16):
        canvas.add(core, image[core.slices()].tobytes(), core)
    assert np.array_equal(canvas.image(), image)


def test_padded_rect_grows_by_the_halo_and_stops_at_the_image_edge():
    assert padded_rect(Rect(0, 0, 10, 10), 4, 30, 30) == Rect(0, 0, 14, 14)
    assert padded_rect(Rect(10, 10, 10, 10), 4, 30, 30) == Rect(6, 6, 18, 18)
    assert padded_rect(Rect(20, 20, 10, 10), 4, 30, 30) == Rect(16, 16, 14, 14)


@pytest.mark.parametrize(("core", "problem"), [
    (Rect(0, 0, 0, 5), "empty"),
    (Rect(99_990, 0, 20, 5), "reaches past"),
    (Rect(0, 0, 20_000, 5), "maximum tile edge"),
    (Rect(0, 0, 2000, 2000), "more than the maximum of 1,048,576 per tile"),
])
def test_core_error_says_what_is_wrong(core, problem):
    assert problem in core_error(core, 100_000, 100_000)


@pytest.mark.parametrize(("core", "problem"), [
    (Rect(0, 0, 63, 100), "is 63 px wide and ends inside the 1000x1000 image"),
    (Rect(500, 500, 100, 8), "is 8 px tall and ends inside the 1000x1000 image"),
    (Rect(0, 0, 1000, 1000), None),
    (Rect(990, 0, 10, 64), None),  # the last column, cut to the image
    (Rect(0, 999, 64, 1), None),  # the last row
    (Rect(990, 999, 10, 1), None),
])
def test_a_core_ending_inside_the_image_is_at_least_the_minimum_edge(core, problem):
    found = core_error(core, 1000, 1000, min_edge=min_core_edge(64))
    assert found == problem if problem is None else problem in found and "at least 64 px" in found


def test_the_minimum_core_edge_is_the_halo_from_16_px_to_the_largest_tile():
    assert [min_core_edge(h) for h in (0, 8, 16, 64, 256, 1086)] == [16, 16, 16, 64, 256, 1024]  # a tile's most
    assert min_core_edge(1086, 12) == 1020  # the largest tile on a grid of 12 px


@pytest.mark.parametrize("multiple", [1, 2, 4, 6, 8, 12, 16, 24, 40])
@pytest.mark.parametrize("halo", [0, 7, 16, 17, 50, 64, 255, 1000, 1020, 1023, 1024, 1025, 1086, 5000])
def test_the_smallest_tile_on_a_grid_is_one_the_server_takes(halo, multiple):
    """min_tile_edge, every tile cutter's floor: on the grid, within the largest tile's area, and at
    least the server's minimum for that grid, also when the halo passes the largest tile (a brush
    scale's) and the grid does not divide it (1024 px on 12: 1020, where 1032 was refused)."""
    edge = min_tile_edge(halo, multiple)
    assert edge % multiple == 0 and edge * edge <= MAX_TILE_PIXELS
    assert edge >= min_core_edge(halo, multiple) and edge < min_core_edge(halo, multiple) + multiple
    assert core_error(Rect(0, 0, edge, edge), 10_000, 10_000, min_edge=min_core_edge(halo, multiple)) is None
    assert tile_size_for(16, multiple, min_size=edge) == edge  # a forced small tile gets the floor
    assert tile_size_for(1030, multiple, min_size=edge) <= 1024  # a large one stays within the limits


def test_long_thin_cores_within_the_area_limit_are_accepted():
    assert core_error(Rect(0, 0, 16_384, 64), 2_000_000, 64) is None
    assert core_error(Rect(0, 0, 1, 16_384), 1, 20_000) is None


def test_tile_size_is_a_multiple_of_the_stride_within_limits():
    assert tile_size_for(500, 4) == 500
    assert tile_size_for(513, 4) == 512
    assert tile_size_for(5000, 4, max_size=1024) == 1024
    assert tile_size_for(1, 8) == 8
    assert tile_size_for(None, 4) % 4 == 0
    assert tile_size_for(16, 4, min_size=64) == 64  # a forced size below the halo gets the halo
    assert tile_size_for(16, 4, min_size=50) == 52  # rounded up to the stride
    assert tile_size_for(16, 4, min_size=2000, max_size=1024) == 1024  # the server's largest wins


def test_feathered_canvas_reproduces_a_constant_image_without_seams():
    width, height, halo = 50, 40, 6
    canvas = Canvas(width, height, "feather")
    value = np.full((height, width, 3), 200, dtype=np.uint8)
    for core in plan_tiles(width, height, 16):
        padded = padded_rect(core, halo, width, height)
        canvas.add(padded, value[padded.slices()].tobytes(), core)
    assert np.array_equal(canvas.image(), value)


def test_feather_weights_are_one_over_the_core_and_fall_off_in_the_halo():
    core = Rect(10, 10, 10, 10)
    padded = padded_rect(core, 5, 40, 40)
    weights = feather_weights(padded, core)
    assert np.all(weights[5:15, 5:15] == 1.0)
    assert weights[0, 0] < weights[2, 2] < 1.0


@pytest.mark.parametrize("height, width", [(1, 1), (3, 2), (1, 17), (40, 1), (16, 16)])
def test_repeating_a_tiny_thumbnail_keeps_its_statistics(height, width):
    pixels = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8)
    bigger = repeat_to_min_edge(pixels)
    assert min(bigger.shape[:2]) >= 16 and bigger.shape[2] == 3
    assert np.allclose(bigger.mean(axis=(0, 1)), pixels.mean(axis=(0, 1)))
    assert np.allclose(bigger.std(axis=(0, 1)), pixels.std(axis=(0, 1)))
