"""Decode and encode the image formats Tessera accepts (PNG, JPEG, WebP) as RGB8 arrays.

The one implementation for the gateway, the unary Stylize call and the `tessera` CLI, so a file
gives the same pixels whichever way it comes in. Checks run from cheapest to dearest: the format
from the first bytes, the pixel count from the header (Pillow opens lazily), then the decode.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms, ImageOps

from tessera.tiling import thumbnail_shape

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# Visually lossless JPEG/WebP, and PNG compression that stays quick on 12 MP.
_SAVE_OPTIONS = {"png": {"compress_level": 3}, "jpeg": {"quality": 92}, "webp": {"quality": 90}}
_SRGB = ImageCms.createProfile("sRGB")


class ImageFormatError(ValueError):
    """The bytes are not a usable PNG, JPEG or WebP image; the message says why."""


class UnsupportedFormatError(ImageFormatError):
    """The file's first bytes are not those of a PNG, JPEG or WebP file."""


class DamagedImageError(ImageFormatError):
    """The file has the right signature but its header or data cannot be read."""

    def __init__(self, message: str, fmt: str) -> None:
        super().__init__(message)
        self.format = fmt


class ImageTooLargeError(ImageFormatError):
    """The header declares more pixels than allowed; `size` is None when Pillow's guard fired first."""

    def __init__(self, size: tuple[int, int] | None, max_pixels: int) -> None:
        limit = f"{max_pixels / 1e6:g} megapixels"
        if size is None:
            message = f"the image declares more pixels than the {limit} limit"
        else:
            width, height = size
            message = f"the image is {width}×{height} ({width * height / 1e6:.1f} megapixels); the limit is {limit}"
        super().__init__(message)
        self.size = size
        self.max_pixels = max_pixels


def sniff_format(data: bytes) -> str | None:
    """'png', 'jpeg' or 'webp' from the file's signature bytes, or None; names and MIME types are ignored."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_image(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Open lazily (nothing decoded yet) and check the format and the pixel count from the header.

    Returns the image and its format name; a decompression bomb costs nothing.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedFormatError("the file is not a PNG, JPEG or WebP image")
    try:
        image = Image.open(io.BytesIO(data), formats=[FORMATS[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(None, max_pixels) from None  # Pillow's own guard fired first
    except (OSError, SyntaxError, ValueError):
        raise DamagedImageError(f"the file looks like a {fmt.upper()} image but its header is damaged",
                                fmt) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLargeError((width, height), max_pixels)
    return image, fmt


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Decode an opened image into upright sRGB HxWx3 uint8 pixels with no metadata: EXIF orientation
    applied, colour profiles converted, alpha flattened on white, 16-bit and palette images scaled."""
    with image:
        try:
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError):
            # Pillow reports truncated and corrupt data as OSError ("image file is truncated").
            fmt = (image.format or "").lower()
            raise DamagedImageError(f"the {image.format} image is damaged or cut short and cannot be read",
                                    fmt) from None


def decode_image(data: bytes, max_pixels: int = 100_000_000) -> np.ndarray:
    """`open_image` and `to_rgb_array` in one step."""
    image, _ = open_image(data, max_pixels)
    return to_rgb_array(image)


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode HxWx3 uint8 pixels as 'png', 'jpeg' or 'webp', with no metadata at all."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; use one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, FORMATS[fmt], **_SAVE_OPTIONS[fmt])
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


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: keep the top 8 bits; a plain convert("L") would clip everything above 255.
        deep = np.asarray(image)
        if deep.dtype != np.uint16:
            deep = np.clip(deep, 0, 65535).astype(np.uint16)
        grey = (deep >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        image = _to_srgb(image, profile)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # Transparent areas become white, as a photo printed on paper would be.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    """Apply the embedded colour profile (Display P3 phones, CMYK print files); keep alpha."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    source = image.convert("RGB") if image.mode == "RGBA" else image
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(source, src, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile is not worth rejecting the photo for; convert naively instead
    if alpha is not None:
        converted.putalpha(alpha)
    return converted
