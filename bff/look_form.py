"""Reads the look fields of a stylize form: a preset or a painting as the style, a second one to mix in,
and keep-colours (docs/gateway.md).

- ``preset`` (text) or ``style_image`` (file): the style of a style-conditioned style;
- ``mix_preset`` (text) or ``mix_image`` (file), and ``mix`` (0..1, default 0.5): a second style and its
  share; the first gets ``1 - mix``. The server mixes their style codes, not pixels;
- ``keep_colors`` (true/false): keep the photo's colours, for every style.

Style images are checked here as photos are (413 too large when read; then, once check_look_fits knows
the style takes them, 415 not an image, 422 damaged: a small decode of each, which for a JPEG reads a
reduced scale only), and a clip (an animated GIF, WebP or PNG of two frames or more, or a video) is 415
style_image_is_clip and a GIF of one frame 415 still_gif, as a photo is told; the inference server decodes
them again for the encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask import request

from bff import images
from bff.errors import ApiError, did_you_mean, too_large
from bff.form_limits import FILE_FIELDS
from tessera import formats
from tessera.style_facts import StyleSummary
from tessera.style_sources import MAX_STYLE_IMAGE_PIXELS, MIX_SHARE, StyleSource, mix_in
from tessera.video_sniff import CLIP_NAMES, sniff_clip

# What a message calls each style image (the first, then the one mixed in) and each pair of fields: people
# read these sentences (the page shows them), not the form's field names.
_FILE_NAMES = {field: FILE_FIELDS[field].label for field in ("style_image", "mix_image")}
_ROLES = {"style_image": "as the style", "mix_image": "to mix in"}
_SHARE = "The share of the second style"
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


@dataclass(frozen=True)
class Look:
    """The style sources to mix (empty: the style's own look) and whether to keep the photo's colours."""

    sources: tuple[StyleSource, ...] = ()
    keep_colors: bool = False


def read_look(max_upload_bytes: int) -> Look:
    """The current request's look fields, or ApiError 400 (an empty file, a preset and a style image for
    one role, a share or a second style without the other) or 413 (a style image over the upload limit),
    with the `field` of a style image at fault. What the images hold is check_look_fits's."""
    keep = flag("keep_colors")
    first = _source("preset", "style_image", max_upload_bytes)
    second = _source("mix_preset", "mix_image", max_upload_bytes)
    share = fraction(request.form.get("mix"), "invalid_mix", _SHARE)
    if second is None:
        if share is not None:
            raise ApiError(400, "invalid_mix", f"{_SHARE} needs a second style to mix in: a preset or a style image.")
        return Look((first,) if first else (), keep)
    if first is None:
        raise ApiError(400, "invalid_mix", "A second style to mix in needs a first style: a preset or a style image.")
    return Look(tuple(mix_in([first], [(second, MIX_SHARE if share is None else share)])), keep)


def check_look_fits(look: Look, style: StyleSummary) -> None:
    """ApiError 400 when the look asks a fixed style for presets or style images, a presets-only style
    for a style image, or names a preset the style does not have: the inference server would refuse
    the same, but only once the job runs (for /api/jobs, batches and clips, after a 202). Then, the
    style taking them, ApiError 415 or 422 (with its `field`) for a style image that is no still
    image or is damaged: a fixed style's answer does not first ask for another image."""
    name = style.display_name or style.id
    # About the style, not an image: no `field`, so the page says it at the style the person chose.
    if look.sources and style.kind != "conditioned":
        raise ApiError(400, "invalid_style", f"{name} is a fixed style: it takes no presets or style images.")
    if any(source.image for source in look.sources) and not style.accepts_style_images:
        raise ApiError(400, "invalid_style", f"{name} paints only its presets: it takes no style images.")
    known = [p.id for p in style.presets]
    for source in look.sources:
        if source.preset and source.preset not in known:
            raise ApiError(400, "unknown_preset", f"{name} has no preset {source.preset[:64]!r}"
                                                  f"{did_you_mean(source.preset, known)}. "
                                                  f"Its presets: {', '.join(known) or 'none'}.")
    for file_field, source in zip(_FILE_NAMES, look.sources, strict=False):
        if not source.image:
            continue
        try:
            _check_style_image(source.image, _FILE_NAMES[file_field])
        except ApiError as err:
            err.field = file_field  # the page says it under the painting, where it was chosen
            raise


def _source(text_field: str, file_field: str, max_bytes: int) -> StyleSource | None:
    # A painting sent as text (curl -F style_image=painting.jpg, without @) is check_form's 400 not_a_file.
    preset = request.form.get(text_field, "").strip()
    upload = request.files.get(file_field)
    data = upload.read() if upload is not None else b""
    name = _FILE_NAMES[file_field]
    if upload is not None and upload.filename and not data:  # a file was chosen, not an empty form field
        raise ApiError(400, "missing_field", f"{name} is an empty file.", field=file_field)
    if preset and data:
        raise ApiError(400, "invalid_style", f"Choose a preset or a style image {_ROLES[file_field]}, not both.",
                       field=file_field)
    if data:
        if len(data) > max_bytes:
            error = too_large(max_bytes)
            error.field = file_field
            raise error
        return StyleSource(image=data)
    return StyleSource(preset=preset) if preset else None


def _check_style_image(data: bytes, name: str) -> None:
    """ApiError 413 or 422 saying why the style image called ``name`` has too many pixels or is damaged, or
    415 as a photo is told, in a style's words: no image (unsupported_format), a clip (style_image_is_clip: an
    animated GIF, WebP or PNG, or a video; a photo's clip_needs_job would point to the clip jobs, which take
    photos, not style images), a GIF of one frame (still_gif: save it as PNG or JPEG)."""
    try:
        images.check_decodes(data, MAX_STYLE_IMAGE_PIXELS)
    except ApiError as err:
        if err.error == "clip_needs_job":
            raise ApiError(415, "style_image_is_clip", f"{name} is {CLIP_NAMES[sniff_clip(data)]} clip of several "
                                                       f"frames; a style is one still {formats.LABELS} picture."
                           ) from None
        if err.error == "still_gif":
            raise ApiError(415, "still_gif", f"{name} is a GIF of a single frame, a still image, and GIF is not "
                                             "read as a style: save it as PNG or JPEG and choose that file "
                                             "instead.") from None
        if err.error == "unsupported_format":
            raise ApiError(415, "unsupported_format", f"{name} is not a {formats.LABELS} image.") from None
        reason = err.message[:1].lower() + err.message[1:]
        raise ApiError(err.status, err.error, f"{name} cannot be used: {reason}") from None


def fraction(raw: str | None, error: str, label: str) -> float | None:
    """A form number from 0 to 1, None when absent; ApiError 400 ``error`` otherwise."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ApiError(400, error, f"{label} must be a number from 0 to 1, not {raw[:40]!r}.")
    return value


def flag(name: str) -> bool:
    """A true/false form field (absent: false); ApiError 400 naming it otherwise."""
    return truth(request.form.get(name), name)


def truth(raw: str | None, name: str) -> bool:
    """A true/false field of a form or query, `raw` as sent (None or '' when absent: false); ApiError 400
    `invalid_<name>` naming it for anything but 1/true/on/yes or 0/false/off/no."""
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, f"invalid_{name}", f"'{name}' must be true or false, not {value[:40]!r}.")
