"""The unary Stylize adapter: decode a small image, cut it into regions for the engine, encode the result.

Work stops within about one tile's time once the call ends (deadline, cancel, disconnect): no more
regions are queued, and queued ones are dropped before the runtime sees them.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from inference_server.conditioning import Source, decode_sources
from inference_server.critic_replies import maps_layout, whole_maps
from inference_server.engine import ImageJob, ImageSpec, PendingRegion, check_image
from inference_server.errors import CallCancelled, InvalidRequest, require_style
from inference_server.model_version import LoadedVersion
from inference_server.reply_size import reply_problem
from tessera import formats
from tessera.brush_scale import check_scale, check_scale_for, scaled_stylize
from tessera.canvas import Canvas
from tessera.imageio import (
    ClipNotImageError,
    ImageFormatError,
    ImageTooLargeError,
    encode_image,
    open_image,
    statistics_thumbnail,
    to_rgb_array,
)
from tessera.small_images import enlarge, enlargement, shrink_back
from tessera.tiling import MAX_TILE_SIZE, min_tile_edge, plan_tiles, shape_error, tile_size_for
from tessera.v1 import style_transfer_pb2 as pb

MAX_UNARY_PIXELS = 16_000_000
# How often a wait for a region looks whether the call has ended meanwhile.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class DecodedRequest:
    pixels: np.ndarray  # HxWx3 uint8
    format: str  # 'png', 'jpeg' or 'webp': the reply's format
    strength: float
    sources: tuple[Source, ...] = ()
    keep_colors: bool = False
    scale: float = 1.0  # brush scale (tessera/brush_scale.py)
    explain: bool = False


def check_request(request: pb.StylizeRequest) -> None:
    """InvalidRequest when the request lacks what every call needs, a style and an image: checked before
    the call takes a slot, so a request that cannot work is not told the server is busy."""
    require_style(request.style)
    if not request.image:
        raise InvalidRequest("no image was sent: StylizeRequest.image takes the photo's encoded PNG, JPEG or "
                             "WebP bytes")


def decode_request(request: pb.StylizeRequest, max_pixels: int, max_reply_bytes: int) -> DecodedRequest:
    """The request's pixels and options, or InvalidRequest saying what is wrong. The size checks
    (pixels, shape, then the reply's worst case against the client's limit) read only the image's header."""
    if request.output_format and request.output_format not in formats.FORMATS:
        raise InvalidRequest(f"output_format {request.output_format!r} is not one of {', '.join(formats.NAMES)}")
    strength = request.strength if request.HasField("strength") else 1.0
    if not 0.0 <= strength <= 1.0:
        raise InvalidRequest(f"strength must be in [0, 1], got {strength}")
    scale = request.scale if request.HasField("scale") else 1.0
    try:
        check_scale(scale)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    sources = decode_sources(request.style_sources)
    try:
        opened = open_image(request.image, min(MAX_UNARY_PIXELS, max_pixels), request.output_format or None)
        output = request.output_format or opened.format
        problem = shape_error(*opened.size) or scale_problem(*opened.size, scale) or reply_problem(
            output, *opened.size, request.max_reply_bytes, max_reply_bytes)
        if problem:
            opened.close()
            raise InvalidRequest(problem)
        pixels = to_rgb_array(opened)
    except ImageTooLargeError as exc:
        raise InvalidRequest(f"{exc}; use StylizeTiles for large images") from None
    except ClipNotImageError as exc:
        raise InvalidRequest(f"{exc}; Stylize restyles one still image: send a clip's frames through "
                             "StylizeTiles (tessera.video does) or the clip as a job to the gateway") from None
    except ImageFormatError as exc:
        raise InvalidRequest(str(exc)) from None
    return DecodedRequest(pixels, output, strength, sources, request.keep_colors, scale, request.explain)


def stylize_decoded(model: LoadedVersion, decoded: DecodedRequest, tile_size: int, window: int,
                    ended: threading.Event) -> pb.StylizeResponse:
    """Restyle a decoded image on `model`, at most `window` tiles queued at once; raises CallCancelled
    once `ended` is set (the call is over), and the engine's errors."""
    height, width = decoded.pixels.shape[:2]
    check_image(width, height, decoded.strength, MAX_UNARY_PIXELS)
    maps: list = []  # the critic's maps of every region, when asked to explain
    worked: list = [decoded.pixels]  # the image the model ran on (smaller under brush scale)
    if decoded.scale < 1.0:
        image = _scaled(model, decoded, tile_size, window, ended, maps, worked)
    else:
        image = _restyle(model, decoded.pixels, decoded.strength, decoded, tile_size, window, ended,
                         decoded.keep_colors, maps, worked)
    if ended.is_set():  # encoding a large image takes a while: not for a caller who has gone
        raise CallCancelled("the call ended before its image was encoded")
    reply = pb.StylizeResponse(image=encode_image(image, decoded.format),
                               mime_type=formats.get(decoded.format).mime_type, version=model.version)
    if decoded.explain:
        judged_height, judged_width = worked[0].shape[:2]
        reply.maps_layout.CopyFrom(maps_layout(model.critic, judged_width, judged_height))
        reply.maps.CopyFrom(whole_maps(reply.maps_layout, maps))
    return reply


def _restyle(model: LoadedVersion, pixels: np.ndarray, strength: float, decoded: DecodedRequest, tile_size: int,
             window: int, ended: threading.Event, keep_colors: bool, maps: list, worked: list) -> np.ndarray:
    """`pixels` (the photo, or its brush-scale working image) restyled; one under MIN_EDGE px on its short
    side is painted enlarged and brought back (tessera/small_images.py), as the client does, and `worked`
    receives the image the model ran on."""
    height, width = pixels.shape[:2]
    factor = enlargement(width, height)
    if factor > 1:
        enlarged = enlarge(pixels, factor)
        context = enlarged if pixels is decoded.pixels else decoded.pixels  # the photo's, under a brush scale
        big = _restyle(model, enlarged, strength, replace(decoded, pixels=context), tile_size, window, ended,
                       keep_colors, maps, worked)
        return shrink_back(big, factor)
    worked[0] = pixels
    # The thumbnail is always the whole photo's, as a client's StylizeTiles header carries it: at a brush
    # scale the model runs on the shrunk photo with the statistics of the photo itself.
    thumbnail = statistics_thumbnail(decoded.pixels, model.tiling.thumbnail_size) if model.tiling.needs_thumbnail \
        else None
    job = ImageJob(model, ImageSpec(width, height, strength, thumbnail=thumbnail, sources=decoded.sources,
                                    keep_colors=keep_colors, explain=decoded.explain))
    # Cores on the critic's grid as well as the generator's (ImageJob.multiple), within the version's limits.
    largest = min(MAX_TILE_SIZE, job.tile_limits[0])
    side = tile_size_for(tile_size, job.multiple, largest, min_tile_edge(job.halo, job.multiple))
    return _run(job, pixels, side, window, ended, maps)


def _scaled(model: LoadedVersion, decoded: DecodedRequest, tile_size: int, window: int,
            ended: threading.Event, maps: list, worked: list) -> np.ndarray:
    """Brush scale < 1: the model at the working resolution (strength 1 when strength mixes pixels,
    which is then done at full size with keep_colors), the result enlarged guided by the photo. The
    critic's maps are those of the working-resolution result, which `worked` receives."""
    mixes = model.conditioner is None or not model.conditioner.strength_moves_code
    model_strength = 1.0 if mixes else decoded.strength

    def run(small: np.ndarray) -> np.ndarray:
        return _restyle(model, small, model_strength, decoded, tile_size, window, ended, False, maps, worked)

    return scaled_stylize(decoded.pixels, decoded.scale, run, strength=decoded.strength if mixes else 1.0,
                          keep_colors=decoded.keep_colors)


def _run(job: ImageJob, pixels: np.ndarray, tile_size: int, window: int, ended: threading.Event,
         maps: list) -> np.ndarray:
    """The restyled image; each region's critic maps (if any) are appended to `maps`."""
    height, width = pixels.shape[:2]
    canvas = Canvas(width, height, job.model.tiling.mode)
    queued: deque[PendingRegion] = deque()
    try:
        for core in plan_tiles(width, height, tile_size):
            while len(queued) >= window:
                _place(canvas, queued.popleft(), ended, maps)
            if ended.is_set():
                raise CallCancelled("the call ended before its image was done")
            queued.append(job.stylize(core, pixels[job.padded(core).slices()]))
        while queued:
            _place(canvas, queued.popleft(), ended, maps)
    finally:
        for region in queued:  # the call ended early: drop what the runtime has not started
            region.cancel()
    return canvas.image()


def _place(canvas: Canvas, region: PendingRegion, ended: threading.Event, maps: list) -> None:
    while True:
        if ended.is_set():
            raise CallCancelled("the call ended before its image was done")
        try:
            styled = region.result(timeout=_POLL_SECONDS)
        except TimeoutError:
            continue
        canvas.add(styled.rect, styled.rgb.tobytes(), region.core)
        if styled.maps is not None:
            maps.append(styled.maps)
        return


def scale_problem(width: int, height: int, scale: float) -> str | None:
    """Why brush `scale` cannot paint a width x height image (tessera.brush_scale.check_scale_for), or None."""
    try:
        check_scale_for(width, height, scale)
    except ValueError as exc:
        return str(exc)
    return None
