"""Previews of one stored photo in every style: the photo's thumbnail (about `preview_size` px on its long
side, computed once per photo and process) restyled on the inference servers, as small JPEGs.

The thumbnail is most of the work for a large photo (a 12 MP JPEG is decoded at a reduced DCT scale,
tessera.imageio.decode_thumbnail), so it is cached by photo id; concurrent requests for one photo wait
for the one decode. Each preview goes to the server as one tile: the client's planner would cut a
512 px thumbnail into 2 to 4 tiles for speed alone, but their halos cost compute (at a 64 px halo, a
quarter more for 2 tiles, two thirds more for 4), and a grid of previews is many calls at once, where
only the total work counts. A look outside the featured grid (a conditioned style's presets after its
first, shown under "More looks") is painted at `more_looks_size` (320 px for a 512 px preview, 0.39 of
the pixels) and enlarged to the thumbnail's size: a grid of every look is mostly such presets, and each
runs a whole teacher network (docs/gateway.md, "Previews").
Rendered previews are cached too (by photo, style, version and options), so a page that reloads
gets them from memory. Both caches are bounded in bytes and evict the least recently used.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from flask import Flask, current_app
from PIL import Image

from bff import images
from bff.backend import Backend, call
from bff.config import GatewayConfig
from bff.photos import Photo
from tessera.brush_scale import shrink, working_size
from tessera.style_sources import StyleSource
from tessera.tiling import MIN_TILE_SIZE, thumbnail_shape

EXTENSION = "tessera_previews"
JPEG_QUALITY = 85
# px: a preview leaves out at most this many last rows or columns (repeating its edge over them) to
# run a conditioned style in one pass; the shipped size multiple, 4, leaves out at most 3.
EDGE_REPEAT_MAX_PX = 4


@dataclass(frozen=True)
class PreviewKey:
    photo_id: str
    style: str
    version: int
    preset: str  # "" for a fixed style
    strength: float
    scale: float | None  # brush scale of the full photo; None: the model runs on the thumbnail itself
    keep_colors: bool
    featured: bool = True  # False: painted at the more-looks size (without a scale), then enlarged


class LruBytes:
    """A dict bounded by the summed size of its values (`size(value)` bytes each); least recently used out first."""

    def __init__(self, max_bytes: int, size: Callable[[object], int]):
        self.max_bytes = max_bytes
        self._size = size
        self._items: OrderedDict[object, object] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        size = self._size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= self._size(old)
            self._items[key] = value
            self._held += size
            while self._held > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._held -= self._size(dropped)

    @property
    def held_bytes(self) -> int:
        with self._lock:
            return self._held


class Previews:
    """Thumbnails and rendered previews of stored photos, with at most `max_calls` renders at once."""

    def __init__(self, config: GatewayConfig):
        self.size = config.preview_size
        self.more_size = config.more_looks_size
        # Above this working long side a scaled preview runs at this side (its brush then larger than the
        # full result's): twice the preview size costs about four times a plain preview.
        self.max_work_side = 2 * config.preview_size
        self.max_pixels = config.max_pixels
        self.thumbnails = LruBytes(config.preview_cache_bytes // 2, lambda a: a.nbytes)
        self.rendered = LruBytes(config.preview_cache_bytes // 2, len)
        self._decoding: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._calls = threading.BoundedSemaphore(config.max_preview_calls)

    def thumbnail(self, photo: Photo, size: int | None = None) -> np.ndarray:
        """The photo shrunk to `size` (default the preview size) px on its long side (HxWx3 uint8), its
        short side kept within the shape rule (thumbnail_size), decoded once per size; ApiError 422 when the
        file is damaged past its header."""
        key = (photo.id, size or self.size)
        cached = self.thumbnails.get(key)
        if cached is not None:
            return cached
        with self._lock:
            lock = self._decoding.setdefault(key, threading.Lock())
        with lock:  # one decode per photo, however many previews ask at once
            cached = self.thumbnails.get(key)
            if cached is None:
                cached = self._decode(photo, key[1])
                cached.setflags(write=False)
                self.thumbnails.put(key, cached)
        with self._lock:
            self._decoding.pop(key, None)
        return cached

    def _decode(self, photo: Photo, longest: int) -> np.ndarray:
        """The photo at thumbnail_size(longest). A thin strip's plain thumbnail would round its short side
        down past the shape rule (3000x3 at 1024 px: 1024x1, which the server refuses as 1024:1), so such a
        photo is decoded whole (a strip has few pixels) and area-averaged to the size that keeps the rule."""
        size = thumbnail_size(photo.width, photo.height, longest)
        plain = size == thumbnail_shape(photo.width, photo.height, longest)
        if plain:
            return images.decode_thumbnail(photo.data, longest, self.max_pixels)
        return shrink(images.decode_thumbnail(photo.data, max(photo.width, photo.height), self.max_pixels), size)

    def render(self, backend: Backend, photo: Photo, key: PreviewKey) -> bytes:
        """The preview JPEG for `key` (from the cache when it was made before); raises ApiError."""
        cached = self.rendered.get(key)
        if cached is not None:
            return cached
        thumb = self.thumbnail(photo)
        sources = (StyleSource(preset=key.preset),) if key.preset else ()
        with self._calls:
            if key.scale is None:
                image = self._plain(backend, key, sources, thumb)
            else:
                image = self._at_scale(backend, photo, key, sources, thumb)
        data = encode_jpeg(image)
        self.rendered.put(key, data)
        return data

    def _plain(self, backend: Backend, key: PreviewKey, sources, thumb: np.ndarray) -> np.ndarray:
        """The thumbnail restyled as one tile, or for a look outside the featured grid its copy shrunk to
        `more_size` (area average) restyled as one tile and enlarged back (bicubic). Either way the tile
        is its own thumbnail, so a conditioned style runs one pass (inference_server/whole_image.py); a
        side that is no multiple of the style's size multiple would be padded, which takes two passes, so
        for a conditioned style the last rows or columns short of one, up to EDGE_REPEAT_MAX_PX (a 3:2
        photo's 512x341 thumbnail: one row), are left out and the result's edge is repeated over them."""
        height, width = thumb.shape[:2]
        base = thumb if key.featured else shrink(thumb, thumbnail_size(width, height, self.more_size))
        style = backend.style(key.style)
        kept = _whole_multiples(base, style.tiling.size_multiple) if style.kind == "conditioned" else base
        image = call(backend.client.stylize, kept, key.style, strength=key.strength,
                     timeout=backend.config.stylize_timeout_s, style_sources=sources,
                     keep_colors=key.keep_colors, tile_size=one_tile(kept),
                     stall_timeout=backend.config.preview_stall_timeout_s).image
        image = _extended(image, base.shape[:2])
        if base is thumb:
            return image
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))

    def _at_scale(self, backend: Backend, photo: Photo, key: PreviewKey, sources, thumb: np.ndarray) -> np.ndarray:
        """The preview of the full-size result at brush scale `key.scale`, shrunk to the thumbnail's size:
        the model runs at the photo's working resolution (from the thumbnail when that is no larger, else
        from a thumbnail of up to `max_work_side` px, the cap beyond which the preview's brush is larger
        than the full result's; see working_side())."""
        work_side = self.working_side(photo, key.scale)
        base = thumb if work_side <= self.size else self.thumbnail(photo, min(work_side, self.max_work_side))
        factor = min(1.0, work_side / max(base.shape[:2]))
        image = call(backend.client.stylize, base, key.style, strength=key.strength,
                     timeout=backend.config.stylize_timeout_s, style_sources=sources,
                     keep_colors=key.keep_colors, scale=factor, tile_size=one_tile(base),
                     stall_timeout=backend.config.preview_stall_timeout_s).image
        return shrink(image, (thumb.shape[1], thumb.shape[0]))

    def working_side(self, photo: Photo, scale: float) -> int:
        """The long side of the photo's working resolution at brush `scale`, in pixels."""
        return max(working_size(photo.width, photo.height, scale))


def thumbnail_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) of a width x height image shrunk to at most `longest` px on its long side, as
    tessera.tiling.thumbnail_shape, but with the short side kept at least the long one over
    MAX_ASPECT_RATIO (tessera.brush_scale.working_size's rule), so every copy the gateway shrinks and
    sends to the server (a preview's thumbnail, its working copy at a brush scale, a more-looks copy) has
    a shape the server takes whenever the photo has."""
    return working_size(width, height, min(1.0, longest / max(width, height, 1)))


def _whole_multiples(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """The HxWx3 image without its last rows and columns beyond whole multiples of `multiple` (a view);
    the image as it is when a side is shorter than one multiple, or when more than EDGE_REPEAT_MAX_PX
    would be left out (repeated, they would show as a smeared band; padding costs a second pass instead)."""
    height, width = pixels.shape[:2]
    rows, columns = height - height % multiple, width - width % multiple
    if multiple <= 1 or rows == 0 or columns == 0 or max(height - rows, width - columns) > EDGE_REPEAT_MAX_PX:
        return pixels
    return pixels[:rows, :columns]


def _extended(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The HxWx3 image grown to `shape` (height, width) by repeating its last row and column."""
    height, width = pixels.shape[:2]
    if (height, width) == shape:
        return pixels
    return np.pad(pixels, ((0, shape[0] - height), (0, shape[1] - width), (0, 0)), mode="edge")


def encode_jpeg(pixels: np.ndarray) -> bytes:
    """HxWx3 uint8 -> a small JPEG without metadata."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def init_app(app: Flask, config: GatewayConfig) -> None:
    app.extensions[EXTENSION] = Previews(config)


def previews() -> Previews:
    """The current app's Previews."""
    return current_app.extensions[EXTENSION]


def one_tile(image: np.ndarray) -> int:
    """The tile edge that serves an HxWx3 preview as one tile: its longest side, and at least the smallest
    edge a caller may ask for (a 10x10 photo's thumbnail is 10 px)."""
    return max(MIN_TILE_SIZE, *image.shape[:2])
