"""The image formats Tessera reads and writes: the one table of names, MIME types, Pillow plugins,
file signatures, size limits and encoder options, used by the decoder, the gateway, the unary call,
the CLI, the OpenAPI description and the page's published limits.

A format is named by its short lower-case name ('png', 'jpeg', 'webp') everywhere in Tessera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin


def _holds(data: bytes, signature: tuple[tuple[int, bytes], ...]) -> bool:
    """Whether `data` holds each (offset, bytes) pair of `signature`."""
    return all(data[offset:offset + len(part)] == part for offset, part in signature)


@dataclass(frozen=True)
class ImageFormat:
    """One format: how to recognise it, open it, write it, and the largest side it can hold."""

    name: str  # 'png', 'jpeg', 'webp'
    label: str  # for people: 'PNG'
    mime_type: str
    extension: str  # the usual file-name extension, without the dot
    aliases: tuple[str, ...]  # every name or extension a caller may use for it
    pillow_name: str
    # The plugin class itself: opening through it skips Pillow's process-wide bomb guard, so the
    # pixel limit that the caller configured is the only one that applies (see imageio.open_image).
    pillow_class: type[Image.Image] = field(repr=False)
    max_side: int | None  # largest width or height the encoder can write, in pixels; None: no limit
    # (offset, bytes) pairs that the file's first bytes must all hold; the page sniffs with them too.
    signature: tuple[tuple[int, bytes], ...]
    save_options: dict[str, Any] = field(default_factory=dict)

    def matches(self, data: bytes) -> bool:
        """Whether `data` starts with this format's signature."""
        return _holds(data, self.signature)


# Limits measured with Pillow's encoders (tests/test_formats.py writes at and past each one):
# libwebp refuses a side above 16383 px; libjpeg(-turbo) above 65500 px (JPEG_MAX_DIMENSION,
# not the 65535 that the file format could hold). PNG sides go to 2^31 - 1, far past any pixel limit.
# Options: visually lossless JPEG/WebP, and PNG compression that stays quick on 12 MP.
FORMATS: dict[str, ImageFormat] = {
    "png": ImageFormat("png", "PNG", "image/png", "png", ("png",), "PNG", PngImagePlugin.PngImageFile,
                       None, ((0, b"\x89PNG\r\n\x1a\n"),), {"compress_level": 3}),
    "jpeg": ImageFormat("jpeg", "JPEG", "image/jpeg", "jpg", ("jpeg", "jpg", "jpe"), "JPEG",
                        JpegImagePlugin.JpegImageFile, 65_500, ((0, b"\xff\xd8\xff"),), {"quality": 92}),
    "webp": ImageFormat("webp", "WebP", "image/webp", "webp", ("webp",), "WEBP", WebPImagePlugin.WebPImageFile,
                        16_383, ((0, b"RIFF"), (8, b"WEBP")), {"quality": 90}),
}
NAMES = tuple(FORMATS)
MIME_TYPES = tuple(f.mime_type for f in FORMATS.values())
LABELS = "PNG, JPEG or WebP"


class OutputTooLargeError(ValueError):
    """The image is wider or taller than the chosen output format can hold; the message names the limit."""

    def __init__(self, fmt: ImageFormat, width: int, height: int) -> None:
        super().__init__(
            f"a {width}×{height} image cannot be written as {fmt.label}, which holds at most {fmt.max_side} px "
            f"per side; choose PNG (no such limit) instead")
        self.format = fmt
        self.size = (width, height)


@dataclass(frozen=True)
class UnreadFormat:
    """An image format people often have that Tessera does not read, recognised by its first bytes so that
    a refusal can say what the file is: a phone's HEIC photo is the common case."""

    label: str
    signature: tuple[tuple[int, bytes], ...]

    def matches(self, data: bytes) -> bool:
        return _holds(data, self.signature)


# HEIF and AVIF are ISO media files: 'ftyp' at offset 4, then the major brand (ISO/IEC 23008-12, AV1 Image
# File Format). Apple's phones save photos as HEIC by default. tessera.video_sniff counts these brands among
# those that hold no video.
HEIC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"mif2", b"msf1",
               b"miaf")
AVIF_BRANDS = (b"avif", b"avis", b"avio")
UNREAD_FORMATS = (
    *(UnreadFormat("HEIC", ((4, b"ftyp"), (8, brand))) for brand in HEIC_BRANDS),
    *(UnreadFormat("AVIF", ((4, b"ftyp"), (8, brand))) for brand in AVIF_BRANDS),
    UnreadFormat("TIFF", ((0, b"II*\x00"),)),
    UnreadFormat("TIFF", ((0, b"MM\x00*"),)),
    UnreadFormat("BMP", ((0, b"BM"), (6, b"\x00\x00\x00\x00"))),  # 'BM', the file size, 4 reserved zero bytes
)


def what_it_is(data: bytes) -> str:
    """For a file of a known image format Tessera does not read, what it is and what to do, to end a
    refusal: ' (it is a HEIC image: save or export it as JPEG or PNG, and choose that file)'; else ''."""
    other = next((f.label for f in UNREAD_FORMATS if f.matches(data)), None)
    if other is None:
        return ""
    article = "an" if other[0] in "AEIOU" else "a"
    return f" (it is {article} {other} image: save or export it as JPEG or PNG, and choose that file)"


def not_read(data: bytes) -> str:
    """Why `data` is refused as an image, as a clause: 'the file is not a PNG, JPEG or WebP image', with
    `what_it_is`."""
    return f"the file is not a {LABELS} image{what_it_is(data)}"


def get(name: str) -> ImageFormat:
    """The format named `name` exactly ('png', 'jpeg', 'webp'); KeyError otherwise."""
    return FORMATS[name]


def from_alias(text: str) -> ImageFormat | None:
    """The format a person means by 'PNG', 'jpg', '.jpeg', 'webp'... (any case), or None."""
    wanted = text.strip().lower().lstrip(".")
    return next((f for f in FORMATS.values() if wanted in f.aliases), None)


def from_path(path: str) -> ImageFormat:
    """The format of a file name's extension; ValueError naming the choices otherwise."""
    fmt = from_alias(path.rsplit(".", 1)[-1]) if "." in path else None
    if fmt is None:
        choices = ", ".join(f".{f.extension}" for f in FORMATS.values())
        raise ValueError(f"cannot tell the image format of {path!r}; use {choices}")
    return fmt


def sniff(data: bytes) -> ImageFormat | None:
    """The format whose signature `data` starts with, or None; names and MIME types are not consulted."""
    return next((f for f in FORMATS.values() if f.matches(data)), None)


def check_fits(fmt: ImageFormat, width: int, height: int) -> None:
    """Raises OutputTooLargeError if a width×height image cannot be written as `fmt`."""
    if fmt.max_side is not None and max(width, height) > fmt.max_side:
        raise OutputTooLargeError(fmt, width, height)


def describe() -> list[dict[str, Any]]:
    """The table as JSON-ready dicts, for clients to check files against before sending them:
    name, label, MIME type, extension, max_side (px or None) and signature ([offset, hex bytes] pairs)."""
    return [{"name": f.name, "label": f.label, "mime_type": f.mime_type, "extension": f.extension,
             "max_side": f.max_side, "signature": [[offset, part.hex()] for offset, part in f.signature]}
            for f in FORMATS.values()]


def describe_unread() -> list[dict[str, Any]]:
    """UNREAD_FORMATS as JSON-ready dicts (label, signature as in `describe`), so that a client can say
    what a refused file is."""
    return [{"label": f.label, "signature": [[offset, part.hex()] for offset, part in f.signature]}
            for f in UNREAD_FORMATS]
