"""Reads the multipart form of a stylize request, checking the cheap things before the dear ones."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePath

from flask import request

from bff import images
from bff.backend import Backend
from bff.errors import ApiError, too_large
from bff.form_limits import check_form
from bff.look_form import Look, check_look_fits, flag, fraction, read_look
from bff.photo_stores import photo_store
from tessera import formats
from tessera.brush_scale import check_scale, resolve_scale, working_size
from tessera.tiling import shape_error

# Characters a file name should not carry into a header or onto a disk.
_UNSAFE = set('"\\/:*?<>|;%')
MAX_STEM_CHARS = 80
# What a restyle form holds, for the 415 a body that is no form gets (bff.form_limits.check_form).
ORDER_FIELDS = ("the photo as a file in the 'image' field (or a stored photo's id in 'photo_id') and the style's id "
                "in 'style'")


@dataclass(frozen=True)
class Order:
    """A validated request to restyle one image, not decoded yet: a waiting order costs its file size."""

    style: str
    strength: float
    image: bytes = field(repr=False)  # the uploaded PNG, JPEG or WebP file, its header already checked
    pixel_count: int  # width x height, from the header
    format: str  # output format: "png", "jpeg" or "webp"
    filename: str  # suggested download name, e.g. "holiday-mosaic.jpg"
    look: Look = Look()  # style sources to mix, keep-colours
    scale: float | None = None  # brush scale in (0, 1]; None: the default for the photo's size (auto)
    work_pixels: int = 0  # pixels the model runs on (working resolution), for time estimates
    explain: bool = False  # also draw what the style's critic sees (docs/explain.md)


def read_order(backend: Backend) -> Order:
    """Validates the current request's form in order: a body that is no form (415 not_a_form), fields
    (400, a field the form does not have included: bff.form_limits.check_form), the photo (a file in
    `image`, or `photo_id` naming a stored one: 404 when unknown or expired), its type and size (415,
    413, 422 for an unreadable header), whether the output format can hold the image (400), style (404,
    or 503 if the servers are down), the look (bff.look_form: 400 for a look the style cannot paint or an unknown
    preset, 413 for a style image over the upload limit, 415 or 422 for one that is no still image or
    is damaged), `explain` for a style without a critic (400) and the brush scale (400). The
    photo's decoding is left to the job (bff.restyle), which holds a share of the process's pixel
    budget while it runs."""
    check_form(request, backend.config, ORDER_FIELDS)
    style, strength, wanted_format = read_options()
    look = read_look(backend.config.max_upload_bytes)
    data, uploaded_name = _photo_bytes(backend.config.max_upload_bytes)
    opened = images.open_upload(data, backend.config.max_pixels, wanted_format)
    width, height = opened.size
    opened.close()
    check_shape(width, height, backend.config.max_aspect_ratio)
    summary = backend.serving_style(style)
    check_look_fits(look, summary)
    explain = flag("explain")
    if explain and not summary.has_critic:
        raise ApiError(400, "no_critic", f"The style {summary.display_name or style!r} ships no critic, so it "
                                         "cannot show what the critic sees; leave 'explain' out for it.")
    out_format = wanted_format or opened.format
    scale = read_scale(request.form.get("scale"))
    return Order(style=style, strength=strength, image=data, pixel_count=width * height, format=out_format,
                 filename=download_name(uploaded_name, style, formats.get(out_format).extension),
                 look=look, scale=scale, work_pixels=work_pixels(width, height, scale), explain=explain)


def _photo_bytes(max_bytes: int) -> tuple[bytes, str | None]:
    """The photo of the form and its file name: the `image` file, or the stored photo `photo_id` names."""
    photo_id = request.form.get("photo_id", "").strip()
    upload = request.files.get("image")
    if photo_id:
        if upload is not None:
            raise ApiError(400, "invalid_photo", "Send either the 'image' file or a 'photo_id', not both.")
        photo = photo_store().get(photo_id)
        return photo.data, photo.filename
    return read_image_field(max_bytes)


def read_image_field(max_bytes: int) -> tuple[bytes, str | None]:
    """The `image` file's bytes and name; ApiError 400 when missing or empty, 413 when over `max_bytes`."""
    upload = request.files.get("image")
    if upload is None:
        raise ApiError(400, "missing_field", "Attach a photo in the 'image' field (or name a stored one in "
                                             "'photo_id').")
    data = upload.read()
    if not data:
        raise ApiError(400, "missing_field", "The uploaded image file is empty.")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data, upload.filename


def check_shape(width: int, height: int, max_ratio: int) -> None:
    """400 `bad_shape` for an image so long and thin that its tiles would cost far more than its
    pixels (tessera.tiling.shape_error)."""
    problem = shape_error(width, height, max_ratio)
    if problem:
        raise ApiError(400, "bad_shape", problem[0].upper() + problem[1:] + ".")


def download_name(uploaded: str | None, style: str, extension: str) -> str:
    """The result's file name, e.g. "holiday-mosaic.jpg": the upload's stem without path, control or
    quoting characters, cut to MAX_STEM_CHARS characters (any script; the header encodes it)."""
    stem = PurePath((uploaded or "").replace("\\", "/")).stem
    stem = "".join(" " if ch.isspace() else ch for ch in unicodedata.normalize("NFC", stem)
                   if ch.isspace() or (unicodedata.category(ch)[0] not in "CZ" and ch not in _UNSAFE))
    stem = " ".join(stem.split())[:MAX_STEM_CHARS].strip(" .") or "image"
    return f"{stem}-{style}.{extension}"


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or name-2, name-3... when it is in `taken` already, which it joins: a batch's download names
    (two photos called photo.jpg from two folders), the same for each job as in the batch's zip. Names
    that differ only in case are taken as one, as a Windows or macOS folder takes them."""
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}" if dot else f"{name}-{n}"
    taken.add(candidate.casefold())
    return candidate


def read_options() -> tuple[str, float, str | None]:
    """The form's style, strength (0..1, default 1) and output format (None: keep the input's); 400 if bad."""
    return *read_style_and_strength(), _format(request.form.get("format"))


def read_style_and_strength() -> tuple[str, float]:
    """The form's style and strength (0..1, default 1); 400 if bad."""
    return _required("style").strip(), _strength(request.form.get("strength"))


def work_pixels(width: int, height: int, scale: float | None) -> int:
    """Pixels the model runs on for a width x height photo at brush `scale` (None: the default); ApiError
    400 for a scale too small for the photo (tessera.brush_scale.check_scale_for)."""
    work_width, work_height = working_size(width, height, scale_for(width, height, scale))
    return work_width * work_height


def scale_for(width: int, height: int, scale: float | None) -> float:
    """The brush scale a width x height photo is painted at (the default for None); ApiError 400 when
    `scale` would paint it too small to be a painting."""
    try:
        return resolve_scale(scale, width, height)
    except ValueError as error:
        raise ApiError(400, "invalid_scale", f"{str(error)[0].upper()}{str(error)[1:]}.") from None


def read_scale(raw: str | None) -> float | None:
    """The brush scale field: a number in (0, 1], or None for 'auto' or absent; ApiError 400 otherwise."""
    if raw is None or raw.strip().lower() in ("", "auto"):
        return None
    try:
        return check_scale(float(raw))
    except ValueError:
        raise ApiError(400, "invalid_scale", f"Scale must be a number above 0 and at most 1, or 'auto', "
                                             f"not {raw[:40]!r}.") from None


def _required(name: str) -> str:
    value = request.form.get(name, "")
    if not value.strip():
        raise ApiError(400, "missing_field", f"The '{name}' field is required.")
    return value


def _strength(raw: str | None) -> float:
    """Strength from the form: a number from 0 (the original) to 1 (fully styled); 1 when absent."""
    value = fraction(raw, "invalid_strength", "Strength")
    return 1.0 if value is None else value


def _format(raw: str | None) -> str | None:
    """The requested output format, or None to keep the input's."""
    if raw is None or raw.strip() == "":
        return None
    fmt = formats.from_alias(raw)
    if fmt is None:
        raise ApiError(400, "invalid_format", f"Format must be png, jpeg or webp, not {raw[:40]!r}.")
    return fmt.name
