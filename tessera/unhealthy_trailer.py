"""The trailer of a call that failed because its model version turned unhealthy on it.

A served tile that comes out with NaN or infinity fails its call (INTERNAL) and marks its version
unhealthy (docs/registry.md); the server then passes that version over. The failed call carries the
version's number in the trailing metadata TRAILER, so that a client which asked for the style's
serving version, not that one, paints the image again on the version serving now instead of failing
(tessera.client), and never retries the unhealthy one (tessera.tile_streams). The server sets it in
inference_server/servicer.py.
"""

from __future__ import annotations

import grpc

TRAILER = "tessera-unhealthy-version"


def trailer(version: int) -> tuple[tuple[str, str], ...]:
    """The trailing metadata naming `version` as turned unhealthy."""
    return ((TRAILER, str(version)),)


def unhealthy_version(error: BaseException) -> int | None:
    """The version `error`'s trailer names as turned unhealthy; None for any other error (also for
    errors that carry no trailing metadata, such as the client's own)."""
    if not isinstance(error, grpc.RpcError) or not callable(getattr(error, "trailing_metadata", None)):
        return None
    for key, value in error.trailing_metadata() or ():
        if key == TRAILER and value.isdigit():
            return int(value)
    return None
