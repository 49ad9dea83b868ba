"""Decode and encode the image formats Tessera accepts: PNG, JPEG and WebP, as RGB8 arrays."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tessera.tiling import thumbnail_shape

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL_TO_NAME = {v: k for k, v in FORMATS.items()}


class ImageFormatError(ValueError):
    """The bytes are not a readable PNG, JPEG or WebP image; the message says why."""


def sniff_format(data: bytes) -> str | None:
    """'png', 'jpeg' or 'webp' from the file's magic bytes, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_image(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Open (lazily, without decoding pixels) a PNG/JPEG/WebP and check its pixel count.

    Returns the image and its format name. The size check happens before any decoding, so a
    decompression bomb costs nothing.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageFormatError("the file is not a PNG, JPEG or WebP image")
    try:
        image = Image.open(io.BytesIO(data), formats=[FORMATS[fmt]])
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageFormatError(f"the {fmt.upper()} file cannot be read: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(width, height, max_pixels)
    return image, fmt


class ImageTooLargeError(ImageFormatError):
    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(
            f"the image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.1f} megapixels"
        )


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Decode to an HxWx3 uint8 array: EXIF orientation applied, alpha composited on white,
    greyscale, 16-bit, palette and CMYK images converted; metadata is dropped."""
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit greyscale: scale to 8 bits instead of clipping at 255.
            arr = np.asarray(image, dtype=np.float64)
            peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
            image = Image.fromarray(np.round(arr / peak * 255).astype(np.uint8))
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageFormatError(f"the image data is damaged or truncated: {exc}") from None


def decode_image(data: bytes, max_pixels: int = 100_000_000) -> np.ndarray:
    """Decode PNG/JPEG/WebP bytes to an HxWx3 uint8 RGB array (see `to_rgb_array`)."""
    image, _ = open_image(data, max_pixels)
    return to_rgb_array(image)


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 92) -> bytes:
    """Encode an HxWx3 uint8 array as 'png', 'jpeg' or 'webp', without metadata."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; use one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    options = {"optimize": False} if fmt == "png" else {"quality": quality}
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, format=FORMATS[fmt], **options)
    return buffer.getvalue()


def format_from_path(path: str) -> str:
    """'png', 'jpeg' or 'webp' from a file name's extension."""
    suffix = path.rsplit(".", 1)[-1].lower()
    fmt = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}.get(suffix)
    if fmt is None:
        raise ValueError(f"cannot tell the image format of {path!r}; use .png, .jpg or .webp")
    return fmt


def make_thumbnail(pixels: np.ndarray, longest: int) -> np.ndarray:
    """The HxWx3 image shrunk (area-averaged) so its longest side is at most `longest`; an image
    that already fits is returned as it is, so statistics on small images are exact."""
    height, width = pixels.shape[:2]
    size = thumbnail_shape(width, height, longest)
    if size == (width, height):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX), dtype=np.uint8)
