"""Video clips as gateway jobs: read the upload's header and the form, then restyle frame by frame.

A clip goes through POST /api/jobs like a photo (same `image` field, style, strength and look fields;
`format` is 'mp4' or 'webm'). Its header is checked before any frame is decoded: 400 for a file that
is no clip Tessera reads or an output that cannot hold it, 413 for a clip over the duration, frame
size or total-pixel limits. The job's progress counts frames; the result is the encoded clip with its
audio (tessera.video).
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
from bff.forms import download_name, read_style_and_strength
from bff.jobs import Outcome, Progress
from bff.look_form import Look, read_look
from bff.pixel_budget import PixelBudget
from bff.tasks import RestyleTask
from tessera.client import TesseraClient, TesseraError
from tessera.video_sniff import sniff_clip

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


def upload_is_clip() -> bool:
    """Whether the request's `image` file starts like a clip (read without consuming it)."""
    upload = request.files.get("image")
    if upload is None:
        return False
    head = upload.stream.read(32)
    upload.stream.seek(0)
    return sniff_clip(head) is not None


def limits_of(config):
    from tessera.video_io import ClipLimits

    return ClipLimits(max_seconds=config.max_clip_seconds, max_frame_pixels=min(config.max_pixels, 3840 * 2160),
                      max_total_pixels=config.max_clip_pixels)


def read_clip_order(backend: Backend) -> ClipOrder:
    """Validates the form and the clip's header: 400, 404, 413 or 503 as for a photo, plus 400
    bad_clip / unsupported_output and 413 clip_too_large."""
    from tessera.video_io import ClipFormatError, ClipTooLargeError, check_output, open_clip

    config = backend.config
    check_form(request, config)
    style, strength = read_style_and_strength()
    look = read_look(config.max_upload_bytes)
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
    backend.serving_style(style)
    return ClipOrder(style=style, strength=strength, data=data, frame_pixels=info.width * info.height,
                     format=output, filename=download_name(upload.filename, style, output), look=look)


def clip_work(backend: Backend, budget: PixelBudget | None, order: ClipOrder) -> Callable[[Progress], Outcome]:
    """A job body for JobStore.submit; progress counts frames."""

    def work(progress: Progress) -> Outcome:
        return run_clip(order, backend.client, backend.config, progress, budget)

    return work


def run_clip(order: ClipOrder, client: TesseraClient, config, progress: Progress,
             budget: PixelBudget | None = None) -> Outcome:
    """Restyles the clip, holding a few frames' pixels in `budget`; raises ApiError for a person."""
    from tessera.video import FRAMES_IN_FLIGHT, ClipOptions, stylize_clip
    from tessera.video_io import ClipFormatError, ClipTooLargeError

    options = ClipOptions(strength=order.strength, style_sources=order.look.sources,
                          keep_colors=order.look.keep_colors, timeout=config.stylize_timeout_s)
    held = order.frame_pixels * (FRAMES_IN_FLIGHT + 2)  # frames in flight, the one decoding, the one encoding
    with budget.hold(held) if budget is not None else nullcontext():
        try:
            result = stylize_clip(client, order.data, order.style, order.format, options, limits_of(config),
                                  progress=progress)
        except TesseraError as err:
            raise from_grpc(err.code, err.message) from None
        except ClipTooLargeError as err:
            raise ApiError(413, "clip_too_large", _sentence(str(err))) from None
        except ClipFormatError as err:
            raise ApiError(422, "undecodable_clip", _sentence(str(err))) from None
    log.info("restyled a clip of %d frames (%d shots) with %s v%d in %.1f s (%.2f frames/s)", result.frames,
             result.shots, order.style, result.version, result.seconds, result.frames / max(result.seconds, 1e-9))
    return Outcome(data=result.data, mime_type=result.mime_type, filename=order.filename, version=result.version)


def task_from_clip(order: ClipOrder) -> RestyleTask:
    """A validated clip order as a task that can cross processes (the Redis job store)."""
    return RestyleTask(style=order.style, strength=order.strength, format=order.format, filename=order.filename,
                       image=order.data, sources=order.look.sources, keep_colors=order.look.keep_colors, kind="clip")


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
                      look=Look(sources=task.sources, keep_colors=task.keep_colors))
    return run_clip(order, client, config, progress, budget)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
