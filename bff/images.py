"""Turns an uploaded file into clean RGB pixels, and pixels back into a file.

Checks run from cheapest to dearest, so a hostile upload costs as little as possible: the format from
the first bytes, the pixel count from the header (Pillow opens lazily), and only then the decode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps

from bff.errors import ApiError

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PILLOW_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# Encoder settings: visually lossless JPEG/WebP, and PNG compression that stays quick on 12 MP.
_SAVE_OPTIONS = {"png": {"compress_level": 3}, "jpeg": {"quality": 92}, "webp": {"quality": 90}}
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class DecodedImage:
    """An upload ready for the model: upright, metadata-free RGB8 pixels and the format it came in."""

    pixels: np.ndarray  # (H, W, 3) uint8
    format: str  # "png", "jpeg" or "webp"


def sniff_format(data: bytes) -> str | None:
    """The format named by the file's signature bytes, or None; file names and MIME types are ignored."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_upload(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Checks format and pixel count from the first bytes only; returns the lazily opened image and its
    format ("png", "jpeg" or "webp"), or raises ApiError 415, 413 or 422. Nothing is decoded yet."""
    fmt = sniff_format(data)
    if fmt is None:
        raise ApiError(415, "unsupported_format", "That file is not a PNG, JPEG or WebP image.")
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_NAMES[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS, set from the config in main) fired first.
        raise _too_many_pixels(None, max_pixels) from None
    except (OSError, SyntaxError, ValueError):
        raise ApiError(422, "undecodable_image",
                       f"The file looks like a {fmt.upper()} image but its header is damaged.") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise _too_many_pixels((width, height), max_pixels)
    return image, fmt


def decode(image: Image.Image) -> np.ndarray:
    """Decodes an opened upload into upright sRGB RGB8 pixels with no metadata, or raises ApiError 422."""
    with image:
        try:
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError):
            # Pillow reports truncated and corrupt data as OSError ("image file is truncated").
            raise ApiError(422, "undecodable_image",
                           f"The {image.format} image is damaged or cut short and cannot be read.") from None


def decode_upload(data: bytes, max_pixels: int) -> DecodedImage:
    """open_upload and decode in one step."""
    image, fmt = open_upload(data, max_pixels)
    return DecodedImage(pixels=decode(image), format=fmt)


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> ApiError:
    limit = f"{max_pixels / 1e6:g} megapixels"
    if size is None:
        return ApiError(413, "too_many_pixels", f"The image declares more pixels than the {limit} limit.")
    w, h = size
    return ApiError(413, "too_many_pixels", f"The image is {w}×{h} ({w * h / 1e6:.1f} megapixels); "
                                            f"the limit is {limit}.")


def _to_rgb(image: Image.Image) -> np.ndarray:
    """RGB8 pixels in sRGB: colour profiles applied, alpha flattened on white, deep images scaled."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG: scale to 8 bits; a plain convert("L") would clip everything above 255.
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
    """Applies the embedded colour profile (Display P3 phones, CMYK print files); keeps alpha."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    source = image.convert("RGB") if image.mode == "RGBA" else image
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(source, src, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # A broken profile is not worth rejecting the photo for; convert naively instead.
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encodes RGB8 pixels as png, jpeg or webp, with no metadata at all."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, _PILLOW_NAMES[fmt], **_SAVE_OPTIONS[fmt])
    return buffer.getvalue()


def extension(fmt: str) -> str:
    """The usual file-name extension of a format."""
    return _EXTENSIONS[fmt]
