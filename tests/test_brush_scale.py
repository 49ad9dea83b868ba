"""Brush scale (tessera/brush_scale.py): the guided enlargement is exact band by band, keeps flat
regions flat, follows the photo's edges, and mixes strength and colours as the server does."""

from __future__ import annotations

import numpy as np
import pytest

from tessera import brush_scale, colors
from tessera.pixels import blend_to_rgb8, rgb8_to_chw


def photo(width: int = 240, height: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, ((x // 40 + y // 40) % 2) * 200.0], axis=2)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def sepia(pixels: np.ndarray) -> np.ndarray:
    grey = pixels.astype(np.float32) @ np.array([0.3, 0.59, 0.11], np.float32)
    return np.clip(np.stack([grey * 1.1, grey * 0.9, grey * 0.6], -1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("band_rows", [1, 7, 64])
def test_bands_give_exactly_the_whole_image(band_rows):
    full = photo()
    small = brush_scale.shrink(full, brush_scale.working_size(240, 160, 0.3))
    whole = brush_scale.guided_enlarge(sepia(small), small, full, band_rows=10_000)
    assert np.array_equal(brush_scale.guided_enlarge(sepia(small), small, full, band_rows=band_rows), whole)


def test_a_flat_result_stays_flat_and_the_size_is_the_photos():
    full = photo(301, 199)
    small = brush_scale.shrink(full, brush_scale.working_size(301, 199, 0.25))
    flat = np.full_like(small, 77)
    out = brush_scale.guided_enlarge(flat, small, full)
    assert out.shape == full.shape and np.abs(out.astype(int) - 77).max() <= 1


def test_edges_follow_the_full_resolution_photo():
    full = np.zeros((160, 160, 3), np.uint8)
    full[:, 83:] = 255  # an edge between working pixels at scale 1/8
    small = brush_scale.shrink(full, (20, 20))
    out = brush_scale.guided_enlarge(small, small, full)  # "styling" that keeps the picture
    plain = np.asarray(np.kron(small[..., 0], np.ones((8, 8))), np.float32)  # nearest enlargement
    # The guided result steps where the photo steps (column 83); a plain enlargement cannot.
    assert out[80, 81, 0] < 40 and out[80, 85, 0] > 215
    assert np.abs(out[..., 0].astype(np.float32) - full[..., 0]).mean() < np.abs(plain - full[..., 0]).mean()


def test_scale_one_is_the_servers_blend_and_keep_colors():
    full = photo()
    styled = sepia(full)
    out = brush_scale.scaled_stylize(full, 1.0, sepia, strength=0.4)
    expected = blend_to_rgb8(rgb8_to_chw(styled), full, 0.4)
    assert np.array_equal(out, expected)
    kept = brush_scale.scaled_stylize(full, 1.0, sepia, keep_colors=True)
    assert np.array_equal(kept, colors.keep_colors(styled, full))


def test_the_model_sees_the_working_resolution():
    seen = []
    brush_scale.scaled_stylize(photo(400, 300), 0.25, lambda small: seen.append(small.shape) or small)
    assert seen == [(75, 100, 3)]


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, float("nan"), "0.5"])
def test_scales_outside_0_to_1_are_refused(bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        brush_scale.check_scale(bad)


def test_the_default_brings_large_photos_to_the_working_side():
    assert brush_scale.default_scale(800, 600) == 1.0
    assert brush_scale.working_size(4000, 3000, brush_scale.default_scale(4000, 3000)) == (1024, 768)
    assert brush_scale.working_size(6000, 4000, brush_scale.default_scale(6000, 4000)) == (1024, 683)


@pytest.mark.parametrize(("width", "height", "work"), [
    (8000, 250, (8000, 250)),  # was 1024x32: a blur with no strokes
    (250, 8000, (250, 8000)),
    (16000, 16, (16000, 16)),  # was 1024x1
    (12000, 1000, (3072, 256)),  # was 1024x85
    (1000, 12000, (256, 3072)),
    (3000, 300, (2560, 256)),
])
def test_the_default_keeps_a_panoramas_short_side_at_256_px_or_its_own(width, height, work):
    """The default looked at the long side alone, so a panorama came back painted a few pixels tall and
    enlarged to a smear; its short side now stays at MIN_AUTO_SHORT_SIDE px, or its own when shorter."""
    assert brush_scale.working_size(width, height, brush_scale.default_scale(width, height)) == work
    assert min(work) >= min(brush_scale.MIN_AUTO_SHORT_SIDE, width, height)


@pytest.mark.parametrize(("width", "height", "work"), [(48, 32, (12, 8)), (53, 37, (17, 11)), (60, 40, (24, 16))])
def test_the_working_image_is_the_exact_area_average(width, height, work):
    full = photo(width, height, seed=2)
    # Each full pixel repeated work_h x work_w times: every working pixel is then a whole block.
    fine = np.repeat(np.repeat(full.astype(np.float64), work[1], 0), work[0], 1)
    exact = fine.reshape(work[1], height, work[0], width, 3).mean(axis=(1, 3))
    assert np.abs(brush_scale.area_shrink(full, work) - exact).max() <= 0.5 + 1e-9


def test_any_part_of_the_working_image_equals_the_whole_ones():
    full, work = photo(301, 199, seed=5), (113, 71)
    whole = brush_scale.area_shrink(full, work)
    rng = np.random.default_rng(1)
    for _ in range(30):
        x0, y0 = rng.integers(0, 100), rng.integers(0, 60)
        x1, y1 = rng.integers(x0 + 1, 114), rng.integers(y0 + 1, 72)
        fx0, fy0 = x0 * 301 // 113, y0 * 199 // 71  # the footprint of the part, in full pixels
        fx1, fy1 = -(-x1 * 301 // 113), -(-y1 * 199 // 71)
        part = brush_scale.area_shrink(full[fy0:fy1, fx0:fx1], work, (301, 199), (fx0, fy0), (x0, y0, x1, y1))
        assert np.array_equal(part, whole[y0:y1, x0:x1])
    with pytest.raises(ValueError, match="outside"):  # one full row short of the footprint
        brush_scale.area_shrink(full[fy0 + 1:fy1, fx0:fx1], work, (301, 199), (fx0, fy0 + 1), (x0, y0, x1, y1))


@pytest.mark.parametrize("start", [0, 37, 150])
def test_a_part_of_the_enlargement_equals_the_whole_ones(start):
    full, scale = photo(), 0.3
    work = brush_scale.working_size(240, 160, scale)
    small = brush_scale.area_shrink(full, work)
    whole = brush_scale.guided_enlarge(sepia(small), small, full)
    rows = slice(start, min(160, start + 23))
    x0, x1 = brush_scale.cells_needed(240, work[0], 0, 240)
    y0, y1 = brush_scale.cells_needed(160, work[1], rows.start, rows.stop)
    part = brush_scale.enlarge_part(sepia(small)[y0:y1], small[y0:y1], (x0, y0), full[rows], (0, rows.start),
                                    (240, 160), work)
    assert np.array_equal(part, whole[rows])


@pytest.mark.parametrize("width, height", [(8000, 10), (10, 8000), (3000, 3), (1000, 1), (999_999, 1000),
                                           (4000, 3000), (1, 1), (2000, 2)])
@pytest.mark.parametrize("scale", [1.0, 0.5, 0.128, 0.01, 1e-4])
def test_a_working_size_is_never_longer_and_thinner_than_the_server_takes(width, height, scale):
    """8000x10 at the default scale (0.128) rounded to 1024x1, which the server refuses as 1024:1."""
    from tessera.tiling import shape_error

    work_w, work_h = brush_scale.working_size(width, height, scale)
    assert shape_error(work_w, work_h) == "", (work_w, work_h)
    assert 1 <= work_w <= width and 1 <= work_h <= height
    assert abs(work_w - width * scale) <= 0.5 or work_w == max(1, -(-work_h // 1000))
    assert abs(work_h - height * scale) <= 0.5 or work_h == max(1, -(-work_w // 1000))


@pytest.mark.parametrize(("width", "height", "scale", "floor"), [
    (2048, 1536, 1e-300, 16), (2048, 1536, 0.007, 16), (3000, 3, 0.001, 16), (24, 16, 0.5, 16), (16, 4, 0.9, 16),
])
def test_a_scale_that_paints_a_photo_at_a_few_pixels_is_refused_with_the_smallest_that_works(width, height, scale,
                                                                                          floor):
    """1e-300 painted a 3 MP photo at 1x1 px and enlarged it to a smear (a new user's trial). The long
    side at work must stay MIN_WORK_SIDE; the message names the smallest scale, and that scale is taken."""
    with pytest.raises(ValueError, match=f"its long side must stay at least {floor} px") as error:
        brush_scale.check_scale_for(width, height, scale)
    smallest = float(str(error.value).rsplit(" ", 1)[1])
    assert brush_scale.check_scale_for(width, height, smallest) == smallest
    assert max(brush_scale.working_size(width, height, smallest)) >= floor
    with pytest.raises(ValueError):
        brush_scale.resolve_scale(scale, width, height)


@pytest.mark.parametrize(("width", "height", "scale"), [(2048, 1536, 0.0078), (1, 1, 1.0), (10, 10, 0.5),
                                                        (3, 15, 0.1), (20_000, 20, 0.001), (4000, 3000, None)])
def test_scales_that_keep_the_long_side_and_auto_are_taken(width, height, scale):
    """Photos shorter than MIN_WORK_SIDE are small already: any scale is theirs."""
    assert brush_scale.resolve_scale(scale, width, height) > 0
