"""Brush scale: run the model on a shrunk copy of the photo, then bring the result back to full size
guided by the full-resolution photo, so the painted structure grows with the photo instead of staying
a fixed number of pixels (on a 24 MP photo it would otherwise read as fine grain).

`scale` in (0, 1] is the working resolution over the full one, per side. The way down is an exact area
average in integers (`area_shrink`), so any part of the working image computed from a region of the
photo is the same as that part of the whole working image: StylizeTiles with a brush scale
(inference_server/scaled_job.py) shrinks each tile on its own and still agrees with unary Stylize.
The way back up is the fast
guided filter (He and Sun, 2015, after He, Sun and Tang's guided filter): at the working resolution a
local linear model `result ~ a * guide + b` is fitted per window (guide = the photo's luminance there),
its coefficients are averaged and bilinearly enlarged, and the full-size result is `A * guide_full + B`.
Where the photo has a sharp edge, the result's edge follows it at full resolution; elsewhere the result
is the smooth enlargement of the painted one, strokes included. The last step is pointwise after a
bilinear enlargement defined on the whole image's grid, so it runs in bands of rows (bounded memory)
that give exactly the whole-image answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from tessera import colors
from tessera.number_checks import is_real
from tessera.pixels import blend_to_rgb8, rgb8_to_chw
from tessera.tiling import MAX_ASPECT_RATIO

# The default working resolution's long side, in pixels: photos larger than this are painted at it, so
# a 12-24 MP photo gets the strokes a 1 MP photo gets (4000x3000 at 1024x768, 6000x4000 at 1024x683;
# docs/gateway.md shows the look). Smaller photos run at full size, as they did before brush scale.
DEFAULT_WORK_SIDE = 1024
# ...but never its short side below this many pixels (or the photo's own, when shorter): by the long side
# alone an 8000x250 panorama was painted at 1024x32, a blur with no strokes, and a 16000x16 strip at 1024x1.
MIN_AUTO_SHORT_SIDE = 256
# Window radius at the working resolution and regularisation (on the 0..1 scale, squared): a larger
# EPS keeps more of the painted result, a smaller one copies more of the photo's edges.
RADIUS = 2
EPS = 0.01 ** 2 * 16
# The shortest long side, px, a brush scale may paint a photo at (the smallest tile, tessera.tiling):
# below it the result is a few cells enlarged to a smear, never what a brush scale is asked for
# (1e-300 painted a 3 MP photo at 1x1 px).
MIN_WORK_SIDE = 16
# Rows of the full-size image finished per band: 512 rows of a 6000 px wide photo hold ~100 MB of float32.
BAND_ROWS = 512
# BT.601 luma weights, as tessera.colors uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_scale(scale: float) -> float:
    """`scale` itself when it is a number in (0, 1]; ValueError naming the range otherwise."""
    if not (is_real(scale) and 0.0 < scale <= 1.0):
        raise ValueError(f"scale must be a number in (0, 1], got {scale!r}")
    return float(scale)


def default_scale(width: int, height: int, work_side: int = DEFAULT_WORK_SIDE) -> float:
    """The brush scale a photo of width x height gets by default: its long side brought to `work_side`
    pixels (1 for photos no larger), unless that takes its short side under MIN_AUTO_SHORT_SIDE, where the
    short side is brought to that instead (1 for photos whose short side is no larger): 4000x3000 runs at
    1024x768, an 8000x250 panorama at full size, 12000x1000 at 3072x256."""
    by_long = work_side / max(width, height, 1)
    by_short = MIN_AUTO_SHORT_SIDE / max(min(width, height), 1)
    return min(1.0, max(by_long, by_short))


def resolve_scale(scale: float | None, width: int, height: int) -> float:
    """`scale` itself, or the default for a width x height photo when it is None ('auto'); ValueError
    for a scale outside (0, 1] or too small for the photo (check_scale_for)."""
    return default_scale(width, height) if scale is None else check_scale_for(width, height, scale)


def check_scale_for(width: int, height: int, scale: float) -> float:
    """`scale` itself when it is in (0, 1] and paints a width x height photo at MIN_WORK_SIDE px or more on
    its long side (a photo shorter than that already is: any scale); ValueError in words otherwise,
    naming the smallest scale that does."""
    check_scale(scale)
    longest = max(width, height)
    work_w, work_h = working_size(width, height, scale)
    if longest < MIN_WORK_SIDE or max(work_w, work_h) >= MIN_WORK_SIDE:
        return float(scale)
    smallest = math.ceil((MIN_WORK_SIDE - 0.5) / longest * 1e4) / 1e4  # rounds to 16 px (working_size rounds)
    raise ValueError(f"brush scale {scale:g} would paint this {width}x{height} image at {work_w}x{work_h} px; "
                     f"its long side must stay at least {MIN_WORK_SIDE} px, so the scale at least {smallest:g}")


def working_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) the model runs at: each side times `scale`, rounded, at least 1, and the short side
    at least the long one over MAX_ASPECT_RATIO, so an image the server takes never shrinks into one it
    refuses (8000x10 at the default scale of 0.128 rounded to 1024x1, 1024:1)."""
    work_w, work_h = max(1, round(width * scale)), max(1, round(height * scale))
    if work_w >= work_h:
        return work_w, max(work_h, -(-work_w // MAX_ASPECT_RATIO))
    return max(work_w, -(-work_h // MAX_ASPECT_RATIO)), work_h


def shrink(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 area-averaged to `size` (width, height); the image itself when it already has that size."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX), dtype=np.uint8)


def area_shrink(pixels: np.ndarray, work_size: tuple[int, int], full_size: tuple[int, int] | None = None,
                origin: tuple[int, int] = (0, 0), rect: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Working pixels of an image by exact area average: working pixel (i, j) of a `work_size` (w, h)
    working image, no larger than the full one, is the mean of the full image (`full_size` (W, H), by
    default `pixels`' own) over the rectangle it covers, [i*W/w, (i+1)*W/w) x [j*H/h, (j+1)*H/h), pixels
    cut fractionally, rounded half up.

    `pixels` (HxWx3 uint8) is the part of the full image starting at `origin` (x, y); `rect` (x0, y0, x1,
    y1) chooses the working pixels to compute (default all of `work_size`), and `pixels` must cover
    their footprint (ValueError otherwise, or for a working size larger than the full one). The sums
    are integers, so a working pixel is the same whichever part of the image it is computed from.
    Returns (y1-y0)x(x1-x0)x3 uint8."""
    full_w, full_h = full_size or (pixels.shape[1], pixels.shape[0])
    work_w, work_h = work_size
    if work_w > full_w or work_h > full_h:
        raise ValueError(f"a working size of {work_w}x{work_h} is larger than the {full_w}x{full_h} image")
    x0, y0, x1, y1 = rect or (0, 0, work_w, work_h)
    cols = _area_axis(full_w, work_w, x0, x1, origin[0], pixels.shape[1])
    out = np.empty((y1 - y0, x1 - x0, pixels.shape[2]), np.uint8)
    divisor = full_w * full_h
    # Bands of working rows, each from about 250 full rows: the temporaries stay small, and int32
    # holds a band's prefix sums down the rows (at most 255 x 252).
    band = max(1, 250 * work_h // full_h)
    for top in range(y0, y1, band):
        bottom = min(y1, top + band)
        first, first_cut, last, last_part = _area_axis(full_h, work_h, top, bottom, origin[1], pixels.shape[0])
        start = int(first.min())
        part = pixels[start:int(last.max()) + 1]
        rows = _area_sums(part, 0, (first - start, first_cut, last - start, last_part), work_h, np.int32)
        sums = _area_sums(rows, 1, cols, work_w, np.int64)
        out[top - y0:bottom - y0] = (sums + divisor // 2) // divisor
    return out


def _area_axis(full: int, work: int, start: int, stop: int, origin: int, length: int):
    """For working positions start..stop of an axis: where each one's span begins and ends among the
    `length` pixels from `origin`, as (first pixel, its uncovered part, last pixel, its covered part),
    parts in units of 1/work of a pixel; the last pixel comes after the first since work <= full.
    ValueError when the pixels do not cover the spans."""
    index = np.arange(start, stop, dtype=np.int64)
    first, first_cut = np.divmod(index * full, work)
    last, last_part = np.divmod((index + 1) * full, work)
    first -= origin
    last -= origin
    if len(index) and (first.min() < 0 or last.max() > length or (last == length)[last_part > 0].any()):
        raise ValueError(f"working pixels {start}..{stop} need full pixels outside the {length} given from {origin}")
    return first, first_cut, last, last_part


def _area_sums(values: np.ndarray, axis: int, spans, work: int, prefix_type) -> np.ndarray:
    """Along `axis` of integer `values`: each span's integral in units of 1/work pixel (int64): the
    whole pixels inside it from prefix sums of `prefix_type` (wide enough for them), plus its two cut
    ends."""
    first, first_cut, last, last_part = spans
    moved = np.moveaxis(values, axis, 0)
    prefix = np.zeros((moved.shape[0] + 1, *moved.shape[1:]), prefix_type)
    np.cumsum(moved, axis=0, dtype=prefix_type, out=prefix[1:])
    shape = (-1,) + (1,) * (moved.ndim - 1)
    sums = (prefix[last] - prefix[first + 1]).astype(np.int64)
    sums *= work
    sums += (work - first_cut).reshape(shape) * moved[first]
    # `last` is one past the end only when nothing of it is covered (last_part 0).
    sums += last_part.reshape(shape) * moved[np.minimum(last, moved.shape[0] - 1)]
    return np.moveaxis(sums, 0, axis)


def scaled_stylize(photo: np.ndarray, scale: float, stylize: Callable[[np.ndarray], np.ndarray],
                   strength: float = 1.0, keep_colors: bool = False, band_rows: int = BAND_ROWS) -> np.ndarray:
    """Restyle HxWx3 uint8 `photo` at brush `scale`: `stylize` gets the working-resolution photo (hxwx3
    uint8) and returns it restyled at strength 1 (same shape), and the answer is the full-size HxWx3
    uint8 result mixed with the photo by `strength` as the server mixes (tessera.pixels.blend_to_rgb8),
    with the photo's chroma when `keep_colors` (tessera.colors.keep_colors), both at full size.
    At scale 1 `stylize` gets the photo itself and only the mix is applied."""
    check_scale(scale)
    height, width = photo.shape[:2]
    small = area_shrink(photo, working_size(width, height, scale))
    styled = stylize(small)
    if styled.shape != small.shape:
        raise ValueError(f"stylize returned {styled.shape} for a {small.shape} image")
    if small.shape == photo.shape:  # nothing to enlarge: exactly the server's mix
        mixed = blend_to_rgb8(rgb8_to_chw(styled), photo, strength)
        return colors.keep_colors(mixed, photo) if keep_colors else mixed
    return guided_enlarge(styled, small, photo, strength, keep_colors=keep_colors, band_rows=band_rows)


def guided_enlarge(styled: np.ndarray, small_photo: np.ndarray, photo: np.ndarray, strength: float = 1.0,
                   keep_colors: bool = False, radius: int = RADIUS, eps: float = EPS,
                   band_rows: int = BAND_ROWS) -> np.ndarray:
    """The hxwx3 uint8 `styled` result (of `small_photo`, the hxwx3 shrunk `photo`) enlarged to the HxWx3
    photo's size, guided by the photo's luminance, then mixed with the photo by `strength`, quantized,
    and given the photo's chroma when `keep_colors`; band by band, each band's answer exactly the
    whole image's."""
    height, width = photo.shape[:2]
    work = (styled.shape[1], styled.shape[0])
    return enlarge_part(styled, small_photo, (0, 0), photo, (0, 0), (width, height), work, strength,
                        keep_colors, radius, eps, band_rows)


def enlarge_part(styled: np.ndarray, small_photo: np.ndarray, work_origin: tuple[int, int], photo: np.ndarray,
                 origin: tuple[int, int], full_size: tuple[int, int], work_size: tuple[int, int],
                 strength: float = 1.0, keep_colors: bool = False, radius: int = RADIUS, eps: float = EPS,
                 band_rows: int = BAND_ROWS) -> np.ndarray:
    """`guided_enlarge` for a part of the image: `styled` and `small_photo` (hxwx3 uint8) are the working
    pixels from `work_origin` (x, y) of the `work_size` working image, `photo` (HxWx3 uint8) the full
    pixels from `origin` of the `full_size` image whose result is wanted. The answer is exactly that part
    of the whole image's when the working part holds the cells `cells_needed` gives for the photo's part,
    since the filter's windows are clipped only at the working image's edges."""
    a, b = _coefficients(styled, small_photo, radius, eps)
    # a and b side by side (hxwx6), each multiplied by 255 so the enlargement lands on the 0..255 scale.
    coefficients = np.concatenate([a, b], axis=2) * np.float32(255.0)
    height, width = photo.shape[:2]
    rows = _part_axis(full_size[1], work_size[1], origin[1], height, work_origin[1], a.shape[0])
    cols = _part_axis(full_size[0], work_size[0], origin[0], width, work_origin[0], a.shape[1])
    out = np.empty_like(photo)
    for top in range(0, height, band_rows):
        bottom = min(height, top + band_rows)
        band = photo[top:bottom]
        enlarged = _enlarge(coefficients, rows, cols, top, bottom)
        result = enlarged[..., :3]
        result *= _luma(band)[..., None]
        result += enlarged[..., 3:]
        if strength < 1.0:
            result *= np.float32(strength)
            result += np.float32(1.0 - strength) * band
        np.rint(result, out=result)
        rgb = np.clip(result, 0, 255).astype(np.uint8)
        out[top:bottom] = colors.keep_colors(rgb, band) if keep_colors else rgb
    return out


def cells_needed(full: int, work: int, start: int, stop: int, radius: int = RADIUS) -> tuple[int, int]:
    """Along one axis: the working cells [first, last) that full positions start..stop of the result
    read, windows included (bilinear neighbours, then two box windows of `radius`), clipped to the axis."""
    low, high, _ = _bilinear_axis(full, work)
    return max(0, int(low[start]) - 2 * radius), min(work, int(high[stop - 1]) + 1 + 2 * radius)


def _part_axis(full: int, work: int, start: int, length: int, work_start: int, work_length: int):
    """_bilinear_axis for full positions start..start+length, indexing a part of the working axis that
    begins at `work_start` and holds `work_length` cells; ValueError when it misses some."""
    low, high, weight = (part[start:start + length] for part in _bilinear_axis(full, work))
    low, high = low - work_start, high - work_start
    if length and (low.min() < 0 or high.max() >= work_length):
        raise ValueError(f"full positions {start}..{start + length} need working cells outside "
                         f"{work_start}..{work_start + work_length}")
    return low, high, weight


def _coefficients(styled: np.ndarray, small_photo: np.ndarray, radius: int, eps: float):
    """Box-averaged a and b (hxwx3 float32 each) of the guided filter at the working resolution."""
    guide = _luma(small_photo)
    target = styled.astype(np.float32) / 255.0
    mean_i = _box(guide, radius)
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = np.empty_like(target)
    b = np.empty_like(target)
    for channel in range(3):
        p = target[..., channel]
        mean_p = _box(p, radius)
        cov = _box(guide * p, radius) - mean_i * mean_p
        a[..., channel] = cov / (var_i + eps)
        b[..., channel] = mean_p - a[..., channel] * mean_i
    return np.stack([_box(a[..., c], radius) for c in range(3)], -1), np.stack([_box(b[..., c], radius)
                                                                                   for c in range(3)], -1)


def _luma(rgb8: np.ndarray) -> np.ndarray:
    return (rgb8.astype(np.float32) @ _LUMA) / 255.0


def _box(plane: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window clipped to the image (each pixel divided by its own window's count)."""
    return _box_axis(_box_axis(plane, radius, 0), radius, 1)


def _box_axis(plane: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Window means along one axis: the sum of 2r+1 shifted views of the zero-padded plane (the radius
    is small), divided by the number of pixels each window holds inside the image."""
    n = plane.shape[axis]
    widths = [(0, 0)] * plane.ndim
    widths[axis] = (radius, radius)
    padded = np.pad(plane.astype(np.float32, copy=False), widths)
    total = np.zeros_like(plane, dtype=np.float32)
    for shift in range(2 * radius + 1):
        total += padded[tuple(slice(shift, shift + n) if d == axis else slice(None) for d in range(plane.ndim))]
    index = np.arange(n)
    counts = (np.minimum(index + radius + 1, n) - np.maximum(index - radius, 0)).astype(np.float32)
    shape = [1] * plane.ndim
    shape[axis] = n
    total /= counts.reshape(shape)
    return total


def _bilinear_axis(full: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `full` output positions: the two source indices and the weight of the second,
    pixel centres aligned (half-pixel convention, edges clamped)."""
    source = (np.arange(full, dtype=np.float64) + 0.5) * (small / full) - 0.5
    source = np.clip(source, 0, small - 1)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, small - 1)
    return low, high, (source - low).astype(np.float32)


def _enlarge(plane: np.ndarray, rows, cols, top: int, bottom: int) -> np.ndarray:
    """Rows top..bottom of the bilinear enlargement of hxwxC float32 `plane` to the grid of `rows` x `cols`."""
    low, high, weight = (part[top:bottom] for part in rows)
    weight = weight[:, None, None]
    vertical = plane[low] * (1 - weight) + plane[high] * weight  # band x w x C: small
    col_low, col_high, col_weight = cols
    col_weight = col_weight[None, :, None]
    left = np.take(vertical, col_low, axis=1)
    left *= 1 - col_weight
    right = np.take(vertical, col_high, axis=1)
    right *= col_weight
    left += right
    return left
