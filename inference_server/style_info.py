"""Builds the StyleInfo messages that ListStyles and the admin RPCs return."""

from __future__ import annotations

from inference_server.model_store import StyleState
from inference_server.tile_session import tiling_info
from tessera.v1 import style_transfer_pb2 as pb


def style_info(state: StyleState, default_tile_size: int) -> pb.StyleInfo:
    serving = state.serving
    info = pb.StyleInfo(
        id=state.meta.id,
        display_name=state.meta.display_name,
        description=state.meta.description,
        credits=state.meta.credits,
        license=state.meta.license,
        available_versions=sorted(state.versions),
        status=pb.STYLE_STATUS_SERVING if serving else pb.STYLE_STATUS_UNAVAILABLE,
        status_message=state.status_message(),
        pinned=state.meta.pinned_version is not None,
    )
    if serving is not None:
        info.serving_version = serving.version
        info.tiling.CopyFrom(tiling_info(serving, default_tile_size))
        info.preview_jpeg = serving.preview_bytes
    return info
