"""Uploads as HTTP sees them: tessera.imageio does the work, this module turns its errors into the
JSON answers a browser gets (415 not an image, 413 too many pixels, 400 too large for the chosen
output format, 422 damaged)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bff.errors import ApiError
from tessera import formats, imageio
from tessera.critic_maps import MAP_NAMES, CriticMaps
from tessera.video_sniff import STILL_GIF, is_still_gif


@dataclass(frozen=True)
class DecodedImage:
    """An upload ready for the model: upright, metadata-free RGB8 pixels and the format it came in."""

    pixels: np.ndarray  # (H, W, 3) uint8
    format: str  # "png", "jpeg" or "webp"


def open_upload(data: bytes, max_pixels: int, output_format: str | None = None) -> imageio.OpenedImage:
    """Checks format, pixel count and whether `output_format` (default: the input's) can hold the
    image, from the first bytes only; returns the lazily opened image, or raises ApiError 415, 413,
    400 or 422. Nothing is decoded yet. A clip (an animated WebP or PNG of two frames or more included)
    is 415 clip_needs_job, a one-frame GIF 415 still_gif (tessera.video_sniff decides)."""
    _check_not_still_gif(data)
    try:
        return imageio.open_image(data, max_pixels, output_format)
    except imageio.ImageFormatError as err:
        raise _api_error(err) from None


def decode(opened: imageio.OpenedImage) -> np.ndarray:
    """Decodes an opened upload into upright sRGB RGB8 pixels with no metadata, or raises ApiError 422."""
    try:
        return imageio.to_rgb_array(opened)
    except imageio.ImageFormatError as err:
        raise _api_error(err) from None


def decode_upload(data: bytes, max_pixels: int) -> DecodedImage:
    """open_upload and decode in one step."""
    opened = open_upload(data, max_pixels)
    return DecodedImage(pixels=decode(opened), format=opened.format)


# px: decoding to this side still reads every byte of the file, so it finds one damaged past its
# header; a JPEG is decoded at a reduced DCT scale, a PNG or WebP whole (tessera.imageio.decode_thumbnail).
CHECK_SIDE = 64


def check_decodes(data: bytes, max_pixels: int) -> None:
    """Decodes the whole file and drops the pixels: the one check that an upload is not damaged past its
    header, before any work is queued for it. Raises ApiError 415, 413 or 422 with the sentence the
    full decode of its job would give."""
    decode_thumbnail(data, CHECK_SIDE, max_pixels)


def decode_thumbnail(data: bytes, longest: int, max_pixels: int) -> np.ndarray:
    """The upright photo shrunk to at most `longest` px on its long side (tessera.imageio.decode_thumbnail),
    or ApiError 415 (as open_upload: clip_needs_job, still_gif, unsupported_format), 413 or 422."""
    _check_not_still_gif(data)
    try:
        return imageio.decode_thumbnail(data, longest, max_pixels)
    except imageio.ImageFormatError as err:
        raise _api_error(err) from None


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encodes RGB8 pixels as png, jpeg or webp, with no metadata at all."""
    return imageio.encode_image(pixels, fmt)


def _check_not_still_gif(data: bytes) -> None:
    """415 still_gif for a GIF of one frame: a still image, but in no format Tessera reads, which is said
    with the advice to save it as PNG or JPEG (an animated GIF is imageio's clip)."""
    if is_still_gif(data):
        raise ApiError(415, "still_gif", STILL_GIF)


def _api_error(err: imageio.ImageFormatError) -> ApiError:
    if isinstance(err, imageio.ClipNotImageError):
        return ApiError(415, "clip_needs_job", f"That file is a video clip, not a {formats.LABELS} image: "
                                               "clips are restyled as jobs (POST /api/jobs).")
    if isinstance(err, imageio.UnsupportedFormatError):
        return ApiError(415, "unsupported_format", _sentence(str(err).replace("the file", "that file", 1)))
    if isinstance(err, imageio.ImageTooLargeError):
        return ApiError(413, "too_many_pixels", _sentence(str(err)))
    if isinstance(err, imageio.ImageTooLargeForFormatError):
        return ApiError(400, "too_large_for_format", _sentence(str(err)))
    return ApiError(422, "undecodable_image", _sentence(str(err)))


def _sentence(text: str) -> str:
    """'the image is ...' -> 'The image is ....'"""
    return text[:1].upper() + text[1:] + "."


def heat_map_pngs(maps: CriticMaps | None, width: int, height: int) -> dict[str, bytes] | None:
    """A result's critic maps (tessera.critic_maps) as PNG heat maps of its width x height, by name
    ("realism", "gradcam"), or None for a result that was not asked to explain (docs/explain.md)."""
    if maps is None:
        return None
    return {name: encode(maps.heat_map(name, width, height), "png") for name in MAP_NAMES}
