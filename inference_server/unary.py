"""The unary Stylize call: decode a small image, run it through a TileSession, encode the result."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from inference_server.model_version import LoadedVersion
from inference_server.tile_session import StreamAbort, StreamLimits, TileSession
from tessera.canvas import Canvas
from tessera.imageio import (
    FORMATS,
    MIME_TYPES,
    ImageFormatError,
    ImageTooLargeError,
    encode_image,
    make_thumbnail,
    open_image,
    to_rgb_array,
)
from tessera.tiling import Rect, padded_rect, plan_tiles
from tessera.v1 import style_transfer_pb2 as pb

MAX_UNARY_PIXELS = 16_000_000


def decode_request(request: pb.StylizeRequest):
    """(RGB8 pixels, output format) of a Stylize request, or StreamAbort saying what is wrong."""
    if request.output_format and request.output_format not in FORMATS:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"output_format {request.output_format!r} is not one of {', '.join(FORMATS)}")
    if request.HasField("strength") and not 0.0 <= request.strength <= 1.0:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT, f"strength must be in [0, 1], got {request.strength}")
    try:
        image, fmt = open_image(request.image, MAX_UNARY_PIXELS)
        pixels = to_rgb_array(image)
    except ImageTooLargeError as exc:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT, f"{exc}; use StylizeTiles for large images") from None
    except ImageFormatError as exc:
        raise StreamAbort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    return pixels, request.output_format or fmt


def stylize_image(model: LoadedVersion, request: pb.StylizeRequest, limits: StreamLimits) -> pb.StylizeResponse:
    pixels, fmt = decode_request(request)
    height, width = pixels.shape[:2]
    thumb = make_thumbnail(pixels, model.tiling.thumbnail_size)
    header = pb.StreamHeader(style=model.style, version=model.version, image_width=width, image_height=height,
                             thumbnail=pb.RawImage(width=thumb.shape[1], height=thumb.shape[0], rgb=thumb.tobytes()))
    if request.HasField("strength"):
        header.strength = request.strength
    session = TileSession(model, header, limits)
    cores = plan_tiles(width, height, limits.default_tile_size)
    canvas = Canvas(width, height, model.tiling.mode)
    for reply in session.results(_tiles(pixels, cores, session.halo)):
        r = reply.tile
        canvas.add(Rect(r.x, r.y, r.width, r.height), r.rgb, cores[r.index])
    return pb.StylizeResponse(image=encode_image(canvas.image(), fmt), mime_type=MIME_TYPES[fmt],
                              version=model.version)


def _tiles(pixels, cores: list[Rect], halo: int) -> Iterator[pb.StylizeTilesRequest]:
    height, width = pixels.shape[:2]
    for index, core in enumerate(cores):
        padded = padded_rect(core, halo, width, height)
        yield pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=core.x, y=core.y, width=core.width,
                                                  height=core.height, rgb=pixels[padded.slices()].tobytes()))
