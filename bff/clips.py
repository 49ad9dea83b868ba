"""Video clips as gateway jobs: read the upload's header and the form, then restyle frame by frame.

A clip goes through POST /api/jobs like a photo (same `image` field, style, strength and look fields,
but not `explain` or `scale`, which apply to photos only and are refused with 400 photo_only_field;
`format` is 'mp4' or 'webm'; `temporal_blend`, a number in [0, 1), default 0.9, is the largest share
of the previous output frame, warped along the optical flow, in each output frame (still pixels may get
up to 0.97); 0 turns it off).
Its header is checked before any frame is decoded: 400 for a file that is no clip Tessera reads or an
output that cannot hold it (the message names one that can), 413 for a clip over the duration, frame
size or total-pixel limits. The job's progress counts frames (its total ends at the frames the clip
held); the result is the encoded clip with its audio, copied, or encoded anew where the output cannot
hold it (tessera.video).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from flask import request

from bff.backend import Backend
from bff.errors import ApiError, from_grpc
from bff.form_limits import check_form
from bff.forms import ORDER_FIELDS, download_name, read_style_and_strength
from bff.jobs import JobCancelled, Outcome, Progress
from bff.look_form import Look, check_look_fits, flag, fraction, read_look
from bff.pixel_budget import PixelBudget
from bff.tasks import RestyleTask
from tessera.client import TesseraClient, TesseraError
from tessera.temporal_blend import WEIGHT as BLEND_WEIGHT
from tessera.video_sniff import read_for_sniff, sniff_clip

log = logging.getLogger(__name__)
OUTPUTS = ("mp4", "webm")


@dataclass(frozen=True)
class ClipOrder:
    """A validated request to restyle one clip, not decoded yet."""

    style: str
    strength: float
    data: bytes = field(repr=False)
    frame_pixels: int  # width x height, from the header
    format: str  # 'mp4' or 'webm'
    filename: str  # e.g. "holiday-mosaic.mp4"
    look: Look = Look()
    temporal_blend: float = BLEND_WEIGHT
    # Frames x frame pixels from the header (each frame runs at brush scale 1), for time estimates
    # (bff.job_estimates); 0 when unknown.
    work_pixels: int = 0


def upload_is_clip() -> bool:
    """Whether the request's `image` file is a clip (read without consuming it): whole, since a GIF or
    animated WebP is one only with two frames or more, or a PNG to its image data, where an animated
    PNG declares its frames (tessera.video_sniff.read_for_sniff)."""
    upload = request.files.get("image")
    if upload is None:
        return False
    data = read_for_sniff(upload.stream)
    upload.stream.seek(0)
    return sniff_clip(data) is not None


def limits_of(config):
    from tessera.video_io import ClipLimits

    return ClipLimits(max_seconds=config.max_clip_seconds, max_frame_pixels=min(config.max_pixels, 3840 * 2160),
                      max_total_pixels=config.max_clip_pixels)


def read_clip_order(backend: Backend) -> ClipOrder:
    """Validates the form and the clip's header: 400, 404, 413 or 503 as for a photo, plus 400
    photo_only_field (`explain` or `scale`, before the clip is read), bad_clip / unsupported_output and
    413 clip_too_large."""
    from tessera.video_io import ClipFormatError, ClipTooLargeError, check_output, open_clip

    config = backend.config
    check_form(request, config, ORDER_FIELDS)
    refuse_photo_fields()  # before the style images and the clip are read
    style, strength = read_style_and_strength()
    look = read_look(config.max_upload_bytes)
    blend = read_blend()
    upload = request.files["image"]
    data = upload.read()
    if len(data) > config.max_upload_bytes:
        raise ApiError(413, "too_large", f"The upload is larger than the {config.max_upload_bytes / 1e6:g} MB limit.")
    try:
        clip = open_clip(data, limits_of(config))
    except ClipTooLargeError as err:
        raise ApiError(413, "clip_too_large", _sentence(str(err))) from None
    except ClipFormatError as err:
        raise ApiError(400, "bad_clip", _sentence(str(err))) from None
    info = clip.info
    clip.close()
    wanted = (request.form.get("format") or "").strip().lower().lstrip(".")
    output = wanted or info.default_output()
    if output not in OUTPUTS:
        raise ApiError(400, "invalid_format", f"A clip is written as mp4 or webm, not {wanted[:40]!r}.")
    try:
        check_output(info, output)
    except ClipFormatError as err:
        raise ApiError(400, "unsupported_output", _sentence(str(err))) from None
    check_look_fits(look, backend.serving_style(style))
    return ClipOrder(style=style, strength=strength, data=data, frame_pixels=info.width * info.height,
                     format=output, filename=download_name(upload.filename, style, output), look=look,
                     temporal_blend=blend, work_pixels=info.total_pixels)


def refuse_photo_fields() -> None:
    """ApiError 400 photo_only_field for `explain` (true) or `scale` (a number) on a clip: a clip is
    restyled at brush scale 1 and draws no critic maps, so either would be ignored after the job ran.
    `explain` false and `scale` empty, 'auto' or 1 ask for nothing and pass."""
    scale_given = _asks_other_than("scale", 1.0, also_neutral=("auto",))  # a clip's own brush scale
    given = [name for name, asked in (("explain", flag("explain")), ("scale", scale_given)) if asked]
    if given:
        fields = " and ".join(f"'{name}'" for name in given)
        raise ApiError(400, "photo_only_field", f"{fields} {'apply' if len(given) > 1 else 'applies'} to photos only: "
                                                f"a clip is restyled at brush scale 1 and draws no critic maps; "
                                                f"leave {'them' if len(given) > 1 else 'it'} out for a clip.")


def _asks_other_than(name: str, neutral: float, also_neutral: tuple[str, ...] = ()) -> bool:
    """Whether the form field `name` asks for anything but `neutral`: empty, a number equal to it or a word
    of `also_neutral` (any case) does not; another number, or text that is no number, does."""
    text = (request.form.get(name) or "").strip().lower()
    if not text or text in also_neutral:
        return False
    try:
        return float(text) != neutral
    except ValueError:
        return True


def refuse_clip_fields() -> None:
    """ApiError 400 clip_only_field for `temporal_blend` sent with a photo, which it would not change; empty
    or 0 (blending off) asks for nothing and passes, as `explain` false and `scale` 1 do with a clip."""
    if _asks_other_than("temporal_blend", 0.0):
        raise ApiError(400, "clip_only_field", "'temporal_blend' applies to clips only: a photo has no frames to "
                                               "blend; leave it out for a photo.")


def read_blend() -> float:
    """The `temporal_blend` form field: a number in [0, 1), BLEND_WEIGHT when absent; ApiError 400 otherwise."""
    value = fraction(request.form.get("temporal_blend"), "invalid_temporal_blend", "temporal_blend")
    if value is None:
        return BLEND_WEIGHT
    if value >= 1.0:
        raise ApiError(400, "invalid_temporal_blend", "temporal_blend must be below 1 (0 turns the blending off).")
    return value


def clip_work(backend: Backend, budget: PixelBudget | None, order: ClipOrder) -> Callable[[Progress], Outcome]:
    """A job body for JobStore.submit; progress counts frames."""

    def work(progress: Progress) -> Outcome:
        return run_clip(order, backend.client, backend.config, progress, budget)

    return work


def run_clip(order: ClipOrder, client: TesseraClient, config, progress: Progress,
             budget: PixelBudget | None = None) -> Outcome:
    """Restyles the clip, holding a few frames' pixels in `budget`; raises ApiError for a person."""
    from tessera.video import FRAMES_IN_FLIGHT, READ_AHEAD, ClipOptions, stylize_clip
    from tessera.video_io import ClipFormatError, ClipTooLargeError

    options = ClipOptions(strength=order.strength, style_sources=order.look.sources,
                          keep_colors=order.look.keep_colors, temporal_blend=order.temporal_blend,
                          timeout=config.stylize_timeout_s)
    # Frames in flight and decoded ahead (tessera.video.READ_AHEAD), the one decoding, the one encoding, and the
    # blend's previous input and float32 output (4 + 12 bytes a pixel: about 5 frames).
    held = order.frame_pixels * (FRAMES_IN_FLIGHT + READ_AHEAD + 2 + 5)
    with budget.hold(held) if budget is not None else nullcontext():
        try:
            result = stylize_clip(client, order.data, order.style, order.format, options, limits_of(config),
                                  progress=progress)
        except JobCancelled:
            raise ApiError(499, "cancelled", "The request was cancelled before the clip was done.") from None
        except TesseraError as err:
            raise from_grpc(err.code, err.message) from None
        except ClipTooLargeError as err:
            raise ApiError(413, "clip_too_large", _sentence(str(err))) from None
        except ClipFormatError as err:
            raise ApiError(422, "undecodable_clip", _sentence(str(err))) from None
    log.info("restyled a clip of %d frames (%d shots) with %s v%d in %.1f s (%.2f frames/s)%s", result.frames,
             result.shots, order.style, result.version, result.seconds, result.frames / max(result.seconds, 1e-9),
             f"; {result.audio_note}" if result.audio_note else "")
    return Outcome(data=result.data, mime_type=result.mime_type, filename=order.filename, version=result.version)


def task_from_clip(order: ClipOrder) -> RestyleTask:
    """A validated clip order as a task that can cross processes (the Redis job store)."""
    return RestyleTask(style=order.style, strength=order.strength, format=order.format, filename=order.filename,
                       image=order.data, sources=order.look.sources, keep_colors=order.look.keep_colors, kind="clip",
                       temporal_blend=order.temporal_blend, work_pixels=order.work_pixels)


def run_clip_task(task: RestyleTask, client: TesseraClient, config, progress: Progress,
                  budget: PixelBudget | None = None) -> Outcome:
    """Runs a clip task on a runner (its header was checked at the door; it is read again here for the
    frame size to hold in the budget)."""
    from tessera.video_io import ClipFormatError, open_clip

    try:
        clip = open_clip(task.image, limits_of(config))
    except ClipFormatError as err:
        raise ApiError(422, "undecodable_clip", _sentence(str(err))) from None
    frame_pixels = clip.info.width * clip.info.height
    clip.close()
    order = ClipOrder(style=task.style, strength=task.strength, data=task.image, frame_pixels=frame_pixels,
                      format=task.format, filename=task.filename,
                      look=Look(sources=task.sources, keep_colors=task.keep_colors),
                      temporal_blend=task.temporal_blend)
    return run_clip(order, client, config, progress, budget)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
