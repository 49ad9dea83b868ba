"""Builds the StyleInfo and TilingInfo messages that ListStyles, StylizeTiles and the admin RPCs return."""

from __future__ import annotations

import math

from inference_server.model_version import LoadedVersion
from inference_server.style_state import StyleState
from tessera.tiling import MAX_TILE_SIZE, halo_for
from tessera.v1 import style_transfer_pb2 as pb


def tiling_info(model: LoadedVersion, default_tile_size: int, halo: int = 0, multiple: int = 0,
                limits: tuple[int, int] | None = None) -> pb.TilingInfo:
    """`halo`, `multiple` and `limits` (longest core edge, most core pixels) override the model's: a
    stream that explains needs the critic's halo and grid too, one at a brush scale its own limits."""
    tiling = model.tiling
    max_edge, max_pixels = limits or model.tile_limits
    largest_square = min(MAX_TILE_SIZE, max_edge, math.isqrt(max_pixels))
    return pb.TilingInfo(
        halo=halo or halo_for(tiling.halo, tiling.size_multiple),
        size_multiple=multiple or tiling.size_multiple,
        default_tile_size=min(default_tile_size, largest_square),
        max_tile_size=largest_square,
        max_tile_edge=max_edge,
        max_tile_pixels=max_pixels,
        mode=pb.TILING_MODE_FEATHER if tiling.mode == "feather" else pb.TILING_MODE_CROP,
        needs_thumbnail=tiling.needs_thumbnail,
        thumbnail_size=tiling.thumbnail_size,
    )


def style_info(state: StyleState, default_tile_size: int, include_preview: bool = True) -> pb.StyleInfo:
    serving = state.serving
    info = pb.StyleInfo(
        id=state.meta.id,
        display_name=state.meta.display_name,
        description=state.meta.description,
        credits=state.meta.credits,
        license=state.meta.license,
        available_versions=sorted(state.versions),
        unloaded_versions=state.unloaded,
        status=pb.STYLE_STATUS_SERVING if state.healthy else pb.STYLE_STATUS_UNAVAILABLE,
        status_message=state.status_message(),
        # The serving version is the pinned one (StyleInfo.pinned): a pin that cannot serve (its version
        # gone, rejected or unhealthy) leaves the newest serving, and status_message says why.
        pinned=serving is not None and serving.version == state.meta.pinned_version,
    )
    if serving is not None:
        info.serving_version = serving.version
        info.has_critic = serving.critic is not None
        info.tiling.CopyFrom(tiling_info(serving, default_tile_size))
        if include_preview:
            info.preview_jpeg = serving.preview_bytes
        _describe_kind(info, serving, include_preview)
    return info


def _describe_kind(info: pb.StyleInfo, serving: LoadedVersion, include_preview: bool) -> None:
    """Kind, presets (with their previews if asked) and whether style images work, from the serving
    version's Conditioner."""
    conditioner = serving.conditioner
    if conditioner is None:
        info.kind = pb.STYLE_KIND_FIXED
        info.strength_mode = pb.STRENGTH_MODE_PIXEL_MIX
        return
    info.kind = pb.STYLE_KIND_CONDITIONED
    info.strength_mode = pb.STRENGTH_MODE_STYLE_CODE if conditioner.strength_moves_code else pb.STRENGTH_MODE_PIXEL_MIX
    info.accepts_style_images = conditioner.encoder is not None
    for preset_id in conditioner.preset_order:
        preset = conditioner.presets[preset_id]
        info.presets.add(id=preset.id, name=preset.name, credits=preset.credits, license=preset.license,
                         preview_jpeg=preset.preview_jpeg if include_preview else b"")
