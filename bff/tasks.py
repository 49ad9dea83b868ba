"""A restyle task as data: what a queued job needs to run anywhere (a gateway replica or a worker).

A task carries the validated upload as its encoded bytes, not decoded pixels: it crosses process
boundaries through the job store, and a queued photo costs its file size, not width x height x 3.
The worker decodes it when the job starts.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass

import grpc

from bff import images
from bff.errors import ApiError, from_grpc
from bff.jobs import Outcome, Progress
from bff.pixel_budget import PixelBudget
from tessera import formats
from tessera.brush_scale import resolve_scale
from tessera.client import TesseraClient, TesseraError
from tessera.style_sources import StyleSource
from tessera.temporal_blend import WEIGHT as BLEND_WEIGHT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestyleTask:
    """One photo to restyle; `image` is a PNG, JPEG or WebP file already checked at the door."""

    style: str
    strength: float  # 0 (the original) .. 1 (fully styled)
    format: str  # output format: "png", "jpeg" or "webp"
    filename: str  # download name of the result, e.g. "holiday-mosaic.jpg"
    image: bytes
    sources: tuple[StyleSource, ...] = ()  # style presets or images to mix (bff.look_form.Look)
    keep_colors: bool = False
    scale: float | None = None  # brush scale; None: the default for the photo's size (tessera.brush_scale)
    work_pixels: int = 0  # pixels the model runs on, for time estimates (bff.job_estimates)
    kind: str = "photo"  # or "clip": `image` is then a video clip and `format` 'mp4' or 'webm' (bff.clips)
    temporal_blend: float = BLEND_WEIGHT  # clips: share of the previous output frame (tessera.temporal_blend)
    explain: bool = False  # photos: also the critic's heat maps (docs/explain.md)
    version: int = 0  # the model version by number (a batch's, held for all its photos); 0: whichever serves

    def options_json(self) -> str:
        """Everything but the photo, as JSON (the photo travels as its own binary value; style images,
        small and rare, travel inside as base64)."""
        return json.dumps({
            "style": self.style, "strength": self.strength, "format": self.format, "filename": self.filename,
            "keep_colors": self.keep_colors, "kind": self.kind, "scale": self.scale,
            "work_pixels": self.work_pixels, "temporal_blend": self.temporal_blend, "explain": self.explain,
            "version": self.version,
            "sources": [{"preset": s.preset, "image": base64.b64encode(s.image).decode(), "weight": s.weight}
                        for s in self.sources],
        })

    @classmethod
    def from_parts(cls, options_json: str | bytes, image: bytes) -> RestyleTask:
        """The inverse of options_json() plus the photo; raises ValueError on a malformed record."""
        options = json.loads(options_json)
        sources = tuple(StyleSource(preset=s["preset"], image=base64.b64decode(s["image"]), weight=float(s["weight"]))
                        for s in options.get("sources", []))
        return cls(style=str(options["style"]), strength=float(options["strength"]), format=str(options["format"]),
                   filename=str(options["filename"]), image=image, sources=sources,
                   keep_colors=bool(options.get("keep_colors", False)), kind=str(options.get("kind", "photo")),
                   scale=None if options.get("scale") is None else float(options["scale"]),
                   work_pixels=int(options.get("work_pixels", 0)),
                   temporal_blend=float(options.get("temporal_blend", BLEND_WEIGHT)),
                   explain=bool(options.get("explain", False)), version=int(options.get("version", 0)))


def run_task(task: RestyleTask, client: TesseraClient, max_pixels: int, timeout_s: float, progress: Progress,
             budget: PixelBudget | None = None) -> Outcome:
    """Decodes, restyles and encodes one photo, holding its pixels in `budget` (the process's share of
    decoded memory, bff.pixel_budget) from the decode until the result is encoded; raises ApiError with
    the sentence a person should read (422 for a photo that turns out damaged, the mapped gRPC status
    for a server refusal)."""
    opened = images.open_upload(task.image, max_pixels)  # the header alone: the size to reserve
    width, height = opened.size
    opened.close()
    with budget.hold(width * height) if budget is not None else nullcontext():
        started = time.monotonic()
        pixels = images.decode_upload(task.image, max_pixels).pixels
        try:
            result = client.stylize(pixels, task.style, strength=task.strength, progress=progress,
                                    timeout=timeout_s, style_sources=task.sources, keep_colors=task.keep_colors,
                                    scale=resolve_scale(task.scale, width, height), explain=task.explain,
                                    version=task.version)
        except TesseraError as err:
            if task.version and err.code == grpc.StatusCode.NOT_FOUND:
                raise version_gone(task, err.message) from None
            raise from_grpc(err.code, err.message) from None
        data = images.encode(result.image, task.format)
        maps = images.heat_map_pngs(result.maps, width, height)
    log.info("restyled %dx%d with %s v%d in %.2f s", width, height, task.style, result.version,
             time.monotonic() - started)
    return Outcome(data=data, mime_type=formats.get(task.format).mime_type, filename=task.filename,
                   version=result.version, maps=maps)


def version_gone(task: RestyleTask, server_said: str) -> ApiError:
    """The 410 for a task whose version the servers no longer hold: retired for good (a removed style's or
    version's drain is over, or it was never on this server). The server's own words would be an unknown
    style's, with a typo's suggestion (a removed style) or its other versions: a person asked for neither."""
    log.info("%s v%d is no longer served: %s", task.style, task.version, server_said)
    return ApiError(410, "version_gone", f"Version {task.version} of the style {task.style!r}, which this photo "
                                        "was queued with (a batch's photos all use the version serving when it "
                                        "was accepted), has been retired and is no longer served. Restyle the "
                                        "photo again to use the version serving now.")


def error_fields(err: ApiError) -> dict[str, str]:
    """An ApiError as flat string fields (for a Redis hash or a JSON record)."""
    return {"status": str(err.status), "error": err.error, "message": err.message,
            "retry_after": "" if err.retry_after is None else str(err.retry_after)}


def error_from_fields(fields: dict[str, str]) -> ApiError:
    """The inverse of error_fields()."""
    retry = fields.get("retry_after") or ""
    return ApiError(int(fields.get("status") or 500), fields.get("error") or "internal_error",
                    fields.get("message") or "The job failed.", retry_after=int(retry) if retry else None)
