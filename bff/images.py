"""Uploads as HTTP sees them: tessera.imageio does the work, this module turns its errors into the
JSON answers a browser gets (415 not an image, 413 too many pixels, 422 damaged)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from bff.errors import ApiError
from tessera import imageio

FORMATS = imageio.MIME_TYPES
sniff_format = imageio.sniff_format


@dataclass(frozen=True)
class DecodedImage:
    """An upload ready for the model: upright, metadata-free RGB8 pixels and the format it came in."""

    pixels: np.ndarray  # (H, W, 3) uint8
    format: str  # "png", "jpeg" or "webp"


def open_upload(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Checks format and pixel count from the first bytes only; returns the lazily opened image and its
    format, or raises ApiError 415, 413 or 422. Nothing is decoded yet."""
    try:
        return imageio.open_image(data, max_pixels)
    except imageio.ImageFormatError as err:
        raise _api_error(err) from None


def decode(image: Image.Image) -> np.ndarray:
    """Decodes an opened upload into upright sRGB RGB8 pixels with no metadata, or raises ApiError 422."""
    try:
        return imageio.to_rgb_array(image)
    except imageio.ImageFormatError as err:
        raise _api_error(err) from None


def decode_upload(data: bytes, max_pixels: int) -> DecodedImage:
    """open_upload and decode in one step."""
    image, fmt = open_upload(data, max_pixels)
    return DecodedImage(pixels=decode(image), format=fmt)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encodes RGB8 pixels as png, jpeg or webp, with no metadata at all."""
    return imageio.encode_image(pixels, fmt)


def extension(fmt: str) -> str:
    """The usual file-name extension of a format."""
    return imageio.EXTENSIONS[fmt]


def _api_error(err: imageio.ImageFormatError) -> ApiError:
    if isinstance(err, imageio.UnsupportedFormatError):
        return ApiError(415, "unsupported_format", "That file is not a PNG, JPEG or WebP image.")
    if isinstance(err, imageio.ImageTooLargeError):
        return ApiError(413, "too_many_pixels", _sentence(str(err)))
    return ApiError(422, "undecodable_image", _sentence(str(err)))


def _sentence(text: str) -> str:
    """'the image is ...' -> 'The image is ....'"""
    return text[:1].upper() + text[1:] + "."
