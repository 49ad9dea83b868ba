"""The client's choice of tile shape: little halo waste, several tiles per stream, long thin images
cut into strips, and always within the server's limits."""

import numpy as np
import pytest

from tessera.style_facts import TilingFacts
from tessera.tile_plan import PROGRESS_TILE_PIXELS, TileLimits, choose_tile_shape
from tessera.tiling import (
    MAX_TILE_BYTES,
    MAX_TILE_EDGE,
    MAX_TILE_PIXELS,
    core_error,
    min_core_edge,
    padded_rect,
    plan_tiles,
)

LIMITS = TileLimits(halo=40, size_multiple=4)


def _computed_pixels(width: int, height: int, tile_w: int, tile_h: int, halo: int) -> int:
    return sum(padded_rect(c, halo, width, height).width * padded_rect(c, halo, width, height).height
               for c in plan_tiles(width, height, tile_w, tile_h))


def test_a_6_mp_photo_wastes_far_less_than_fixed_512_px_tiles():
    width, height = 3000, 2000
    tile_w, tile_h = choose_tile_shape(width, height, LIMITS)
    planned = _computed_pixels(width, height, tile_w, tile_h, LIMITS.halo) / (width * height)
    fixed = _computed_pixels(width, height, 512, 512, LIMITS.halo) / (width * height)
    assert fixed > 1.25
    assert planned < 1.15
    assert len(plan_tiles(width, height, tile_w, tile_h)) >= 4  # several tiles: pipelining and progress


def test_more_streams_get_more_tiles_so_each_has_several():
    one = choose_tile_shape(3000, 2000, LIMITS, streams=1)
    four = choose_tile_shape(3000, 2000, LIMITS, streams=4)
    assert len(plan_tiles(3000, 2000, *four)) > len(plan_tiles(3000, 2000, *one))
    assert len(plan_tiles(3000, 2000, *four)) >= 2 * 4


@pytest.mark.parametrize(("width", "height", "most_tiles"), [
    (2_000_000, 1, 130),  # a one-pixel row: strips of 16,384 px, not thousands of squares
    (64, 16_400, 16),
    (1, 1, 1),
    (200, 150, 1),  # a small image is one tile: a halo on inner edges would only cost
])
def test_long_thin_and_small_images_get_few_tiles(width, height, most_tiles):
    tile_w, tile_h = choose_tile_shape(width, height, LIMITS)
    assert len(plan_tiles(width, height, tile_w, tile_h)) <= most_tiles


@pytest.mark.parametrize(("width", "height"), [(2_000_000, 1), (64, 16_400), (8000, 8000), (12_345, 7), (1, 99_999),
                                                (5000, 3000), (33, 33)])
@pytest.mark.parametrize("streams", [1, 3])
@pytest.mark.parametrize("halo", [0, 40, 256])
def test_every_planned_core_is_accepted_by_the_server_and_aligned(width, height, streams, halo):
    """Accepted: within the limits, and at least the halo on each side that ends inside the image."""
    limits = TileLimits(halo=halo, size_multiple=LIMITS.size_multiple)
    tile_w, tile_h = choose_tile_shape(width, height, limits, streams=streams)
    assert tile_w % LIMITS.size_multiple == 0 and tile_h % LIMITS.size_multiple == 0
    cores = plan_tiles(width, height, tile_w, tile_h)
    assert all(core_error(c, width, height, MAX_TILE_EDGE, MAX_TILE_PIXELS, min_core_edge(halo)) is None
               for c in cores)
    assert all(c.width * c.height <= PROGRESS_TILE_PIXELS for c in cores)
    covered = sum(c.width * c.height for c in cores)
    assert covered == width * height


def test_an_older_server_with_square_limits_gets_square_sized_tiles():
    limits = TileLimits(halo=40, size_multiple=4, max_edge=1024, max_pixels=1024 * 1024)
    tile_w, tile_h = choose_tile_shape(2_000_000, 1, limits)
    assert tile_w <= 1024 and tile_h <= 1024


def test_limits_that_leave_no_tile_are_a_clear_error():
    with pytest.raises(ValueError, match="no tile"):
        choose_tile_shape(100, 100, TileLimits(halo=0, size_multiple=8, max_edge=4, max_pixels=16))


def test_the_plan_follows_the_image_shape():
    wide = choose_tile_shape(16_000, 500, LIMITS)
    tall = choose_tile_shape(500, 16_000, LIMITS)
    assert wide[0] > wide[1] and tall[1] > tall[0]
    assert np.isclose(wide[0], tall[1]) and np.isclose(wide[1], tall[0])


@pytest.mark.parametrize(("width", "height", "halo", "multiple", "default_tile"), [
    (15_000, 10_000, 1086, 1, 1024),  # a 150 MP photo at the auto brush scale: 1086 px halo
    (4000, 3000, 292, 4, 256),  # a server's default tile of 256 px under a brush-scale halo
    (420, 300, 48, 4, 16),  # a default tile of 16 px under a 48 px halo
    (2000, 1500, 12, 6, 16),  # the smallest tile, 16 px, is 18 px on a stride of 6
    (15_000, 10_000, 1086, 12, 1024),  # the halo, 1086 px, past the largest tile on a stride of 12 (1020 px)
])
def test_a_halo_larger_than_the_area_caps_still_gets_tiles_the_server_takes(width, height, halo, multiple,
                                                                            default_tile):
    """The smallest tile a server takes inside an image (min_core_edge: the halo, at most the largest
    tile on the stride) wins over the area caps (the server's default tile, the planner's progress
    cap), under which the planner found no tile at all before (two reviews found it; the stride of 12
    under a 1086 px halo asked for 1032 px tiles, past the largest)."""
    facts = TilingFacts(halo=halo, size_multiple=multiple, default_tile_size=default_tile, max_tile_size=1024,
                        mode="crop", needs_thumbnail=False, thumbnail_size=0, max_tile_edge=MAX_TILE_EDGE,
                        max_tile_pixels=MAX_TILE_PIXELS)
    tile_w, tile_h = choose_tile_shape(width, height, facts.tile_limits())
    cores = plan_tiles(width, height, tile_w, tile_h)
    assert all(core_error(c, width, height, MAX_TILE_EDGE, MAX_TILE_PIXELS, min_core_edge(halo, multiple)) is None
               and c.x % multiple == 0 and c.y % multiple == 0 for c in cores)


@pytest.mark.parametrize(("width", "height"), [(15_000, 10_000), (3000, 800), (20_000, 2000), (1500, 1500),
                                               (40_000, 30)])
@pytest.mark.parametrize("halo", [1000, 1302, 1700, 1777, 1778, 2000, 2602])
def test_brush_scale_halos_get_tiles_that_can_be_sent_or_none(width, height, halo):
    """A brush-scale stream's halo (thousands of px at tiny scales) makes tiles heavy: every planned
    tile carries at most MAX_TILE_BYTES with its halo, and the planner finds such a plan whenever the
    plan of the smallest tiles the server takes (min_core_edge squares) could be sent; else a
    ValueError (the server refuses such a header by the same planner, inference_server/scaled_job.py)."""
    limits = TileLimits(halo=halo, size_multiple=1)
    try:
        tile_w, tile_h = choose_tile_shape(width, height, limits, streams=2)
    except ValueError as error:
        edge = min_core_edge(halo)
        heaviest = max(padded_rect(c, halo, width, height).width * padded_rect(c, halo, width, height).height
                       for c in plan_tiles(width, height, edge, edge))
        assert heaviest * 3 > MAX_TILE_BYTES
        assert "MiB with its halo" in str(error)
        return
    for core in plan_tiles(width, height, tile_w, tile_h):
        padded = padded_rect(core, halo, width, height)
        assert padded.width * padded.height * 3 <= MAX_TILE_BYTES
        assert core_error(core, width, height, MAX_TILE_EDGE, MAX_TILE_PIXELS, min_core_edge(halo)) is None


@pytest.mark.parametrize(("width", "height", "halo", "multiple"), [(38_401, 4477, 1876, 4), (4580, 22_066, 1868, 1)])
def test_a_short_side_under_the_smallest_tiles_span_still_plans_when_its_clipped_halos_fit(width, height, halo,
                                                                                           multiple):
    """The server once judged a brush-scale header by the smallest tile's whole span (core plus a halo on
    both sides): 61-62 MiB here, refused, where the edge tiles' halos are clipped by the image's short
    side and a plan within 60 MiB exists (the review found these); it now asks this planner."""
    tile_w, tile_h = choose_tile_shape(width, height, TileLimits(halo=halo, size_multiple=multiple))
    assert all(padded_rect(c, halo, width, height).width * padded_rect(c, halo, width, height).height * 3
               <= MAX_TILE_BYTES for c in plan_tiles(width, height, tile_w, tile_h))
