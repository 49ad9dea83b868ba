"""Decode and encode the image formats Tessera accepts (tessera.formats: PNG, JPEG, WebP) as RGB8 arrays.

The one implementation for the gateway, the unary Stylize call and the `tessera` CLI, so a file
gives the same pixels whichever way it comes in, and the pixels a browser shows for it: EXIF
orientation only where Chromium applies it (tessera.orientation), every kind of transparency
flattened onto white (tessera.transparency). Checks run from cheapest to dearest: the format from
the first bytes, the pixel count and the output format's size limit from the header (Pillow opens
lazily), then the decode.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

from tessera import formats, jpeg_segments, orientation, transparency
from tessera.formats import OutputTooLargeError
from tessera.pixels import MIN_EDGE
from tessera.tiling import thumbnail_shape
from tessera.video_sniff import CLIP_NAMES, sniff_clip

_SRGB = ImageCms.createProfile("sRGB")
# Pillow's decoders report truncated and corrupt data as OSError ("image file is truncated"),
# SyntaxError (a bad PNG chunk) or ValueError.
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError)
# warnings.catch_warnings swaps a process-wide list; two threads inside it at once can leave the
# other's filter behind for good, hence one lock around the (cheap, header-only) open.
_QUIET_LOCK = threading.Lock()


class ImageFormatError(ValueError):
    """The bytes are not a usable PNG, JPEG or WebP image; the message says why."""


class UnsupportedFormatError(ImageFormatError):
    """The file's first bytes are not those of a PNG, JPEG or WebP file."""


class DamagedImageError(ImageFormatError):
    """The file has the right signature but its header or data cannot be read."""

    def __init__(self, message: str, fmt: str) -> None:
        super().__init__(message)
        self.format = fmt


# A pixel limit from this many pixels on reads well in megapixels ("the limit is 0.5 megapixels"); a
# smaller one is said in pixels ("the limit is 100 pixels", not "0.0001 megapixels").
MEGAPIXELS_FROM = 100_000


class ImageTooLargeError(ImageFormatError):
    """The header declares more pixels than allowed."""

    def __init__(self, size: tuple[int, int], max_pixels: int) -> None:
        width, height = size
        counted, limit = pixel_counts(width * height, max_pixels)
        super().__init__(f"the image is {width}×{height} ({counted}); the limit is {limit}")
        self.size = size
        self.max_pixels = max_pixels


def pixel_counts(pixels: int, limit: int) -> tuple[str, str]:
    """An image's pixels and the limit it is over, in the unit the limit reads well in: megapixels to two
    decimals ("190 megapixels", "0.12 megapixels") from MEGAPIXELS_FROM on, unless both would read the
    same, else pixels ("60,000 pixels")."""
    counted, allowed = (f"{n / 1e6:,.2f}".rstrip("0").rstrip(".") + " megapixels" for n in (pixels, limit))
    if limit < MEGAPIXELS_FROM or counted == allowed:
        return f"{pixels:,} pixels", f"{limit:,} pixels"
    return counted, allowed


class ClipNotImageError(ImageFormatError):
    """The file is a clip (a video, or an animated GIF, WebP or PNG of two frames or more), not one
    still image; `kind` is tessera.video_sniff's name for it ('webp', 'apng', 'mp4', ...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the file is {CLIP_NAMES[kind]} clip of several frames, not a still {formats.LABELS} "
                         "image")
        self.kind = kind


class ImageTooLargeForFormatError(ImageFormatError):
    """The image is wider or taller than the chosen output format can hold (see formats.check_fits)."""


def sniff_format(data: bytes) -> str | None:
    """'png', 'jpeg' or 'webp' from the file's signature bytes, or None; names and MIME types are ignored."""
    fmt = formats.sniff(data)
    return fmt.name if fmt else None


@dataclass
class OpenedImage:
    """A file opened lazily (nothing decoded yet) and checked; `to_rgb_array` decodes it."""

    image: Image.Image
    format: str  # 'png', 'jpeg' or 'webp'
    orientation: int  # EXIF orientation 1..8 that a browser applies (tessera.orientation)
    data: bytes

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright image, as a browser shows it."""
        width, height = self.image.size
        return (height, width) if orientation.swaps_sides(self.orientation) else (width, height)

    def close(self) -> None:
        self.image.close()


def open_image(data: bytes, max_pixels: int, output_format: str | None = None) -> OpenedImage:
    """Open lazily and check, from the header alone, the format, the pixel count and (if given) that
    the output format can hold the upright image; a decompression bomb costs nothing.

    `max_pixels` is the only pixel limit that applies: Pillow's own guard (Image.MAX_IMAGE_PIXELS,
    process-wide) is not consulted. Raises ClipNotImageError (a clip: Pillow would hand on its first
    frame as if it were the picture), UnsupportedFormatError, DamagedImageError, ImageTooLargeError or
    OutputTooLargeError (all ImageFormatError).
    """
    clip = sniff_clip(data)
    if clip:
        raise ClipNotImageError(clip)
    fmt = formats.sniff(data)
    if fmt is None:
        raise UnsupportedFormatError(formats.not_read(data))
    try:
        with _metadata_warnings_ignored():
            image = fmt.pillow_class(io.BytesIO(data))
    except _PILLOW_ERRORS:
        raise DamagedImageError(f"the file looks like a {fmt.label} image but its header is damaged or it "
                                "is cut short", fmt.name) from None  # WebP is read whole at open
    opened = OpenedImage(image, fmt.name, orientation.browser_orientation(data, fmt.name), data)
    width, height = opened.size
    if width * height > max_pixels:
        opened.close()
        raise ImageTooLargeError((width, height), max_pixels)
    if fmt.name == "jpeg" and jpeg_segments.scan_data_missing(data):
        opened.close()
        raise DamagedImageError(f"the JPEG image declares {width}×{height} pixels but holds far too little data "
                                "for them: it is damaged or cut short", fmt.name)
    try:
        formats.check_fits(formats.get(output_format or fmt.name), width, height)
    except OutputTooLargeError as err:
        opened.close()
        raise ImageTooLargeForFormatError(str(err)) from None
    return opened


@contextmanager
def _metadata_warnings_ignored() -> Iterator[None]:
    """Pillow warns (UserWarning) about corrupt EXIF it reads only for DPI; browsers ignore such
    blocks too, so they are no reason to refuse a photo, nor noise worth logging."""
    with _QUIET_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def to_rgb_array(opened: OpenedImage) -> np.ndarray:
    """Decode an opened image into upright sRGB H×W×3 uint8 pixels with no metadata, as a browser
    shows it on white: orientation applied where Chromium applies it, colour profiles converted,
    every kind of transparency flattened on white, 16-bit and palette images scaled."""
    with opened.image as image:
        try:
            image.load()
            alpha = transparency.alpha_plane(image, opened.data)
            rgb = transparency.flatten_on_white(_to_rgb(image), alpha)
        except _PILLOW_ERRORS:
            raise DamagedImageError(f"the {image.format} image is damaged or cut short and cannot be read",
                                    opened.format) from None
    if opened.orientation == 1:
        return rgb
    return np.asarray(orientation.upright(Image.fromarray(rgb), opened.orientation), dtype=np.uint8)


def statistics_thumbnail(pixels: np.ndarray, longest: int) -> np.ndarray:
    """The picture a style's image-wide statistics are taken from: the HxWx3 image shrunk to `longest` px
    on its long side, but its short side never under MIN_EDGE px (or its own), the strip squeezed along
    its length only. Shrunk alike on both sides, an 8000x16 strip's 512x1 thumbnail, repeated to 16 rows
    (tessera.pixels.repeat_to_min_edge), gave statistics its tiles never meet, and so did the strip
    itself as its thumbnail from about 6000x16 on: half its pixels came back black or white."""
    return make_thumbnail(pixels, longest, MIN_EDGE)


def decode_thumbnail(data: bytes, longest: int, max_pixels: int = 100_000_000) -> np.ndarray:
    """The upright photo shrunk (area-averaged) so its longest side is at most `longest`, as HxWx3 uint8.

    A JPEG is decoded at a reduced DCT scale (1/2, 1/4 or 1/8: the smallest that still holds the
    thumbnail's size, so between 1 and 2 times it, before the area average), which is most of the cost
    saved: a 4000x3000 JPEG decodes at 1000x750 for a 512 px thumbnail. Other formats are decoded whole.
    Same checks and errors as `open_image`.
    """
    opened = open_image(data, max_pixels)
    width, height = opened.size
    if opened.format == "jpeg":
        thumb_w, thumb_h = thumbnail_shape(width, height, longest)
        raw_w, raw_h = (thumb_h, thumb_w) if orientation.swaps_sides(opened.orientation) else (thumb_w, thumb_h)
        # draft() picks the smallest DCT scale that still gives at least the requested size.
        opened.image.draft("RGB", (raw_w, raw_h))
    return make_thumbnail(to_rgb_array(opened), longest)


def decode_image(data: bytes, max_pixels: int = 100_000_000, output_format: str | None = None) -> np.ndarray:
    """`open_image` and `to_rgb_array` in one step."""
    return to_rgb_array(open_image(data, max_pixels, output_format))


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode H×W×3 uint8 pixels as 'png', 'jpeg' or 'webp', with no metadata at all.

    Raises ValueError for an unknown format and OutputTooLargeError (a ValueError) for an image the
    format cannot hold; callers check that before any work with `open_image(..., output_format)`.
    """
    if fmt not in formats.FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; use one of {', '.join(formats.NAMES)}")
    spec = formats.get(fmt)
    height, width = pixels.shape[:2]
    formats.check_fits(spec, width, height)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, spec.pillow_name, **spec.save_options)
    return buffer.getvalue()


def format_from_path(path: str) -> str:
    """'png', 'jpeg' or 'webp' from a file name's extension; ValueError otherwise."""
    return formats.from_path(path).name


def make_thumbnail(pixels: np.ndarray, longest: int, min_short: int = 0) -> np.ndarray:
    """The HxWx3 image shrunk (area-averaged) so its longest side is at most `longest`, its short side
    never under `min_short` (tiling.thumbnail_shape); an image that already fits is returned as it is,
    so statistics on small images are exact."""
    height, width = pixels.shape[:2]
    size = thumbnail_shape(width, height, longest, min_short)
    if size == (width, height):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX), dtype=np.uint8)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """The colour planes only (alpha is tessera.transparency's), in sRGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: keep the top 8 bits; a plain convert("L") would clip everything above 255.
        deep = np.asarray(image)
        if deep.dtype != np.uint16:
            deep = np.clip(deep, 0, 65535).astype(np.uint16)
        grey = (deep >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")  # via RGBA: Pillow warns when a palette with alphas goes to RGB
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        image = _to_srgb(image, profile)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    """Apply the embedded colour profile (Display P3 phones, CMYK print files) to the colour planes."""
    source = image.convert("RGB") if image.mode == "RGBA" else image
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.profileToProfile(source, src, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile is not worth rejecting the photo for; convert naively instead
