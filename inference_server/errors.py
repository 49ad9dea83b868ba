"""What can end an image call, named for what it is; each carries the gRPC status the servicer sends.

The engine and both adapters raise these; only the servicer turns them into `context.abort`.
Unknown styles and versions are the model store's own errors (StyleNotFound, StyleUnavailable); a
call that names no style at all is a bad request (`require_style`), on the Admin service as well.
"""

from __future__ import annotations

import grpc


class CallError(Exception):
    """Ends one call with `code`, a message meant for the client and `trailers`, the trailing metadata
    the call ends with (pairs of key and value; tessera.unhealthy_trailer)."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, trailers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.trailers = trailers


class InvalidRequest(CallError):
    """Bad header, geometry, pixels, options or image bytes: resending the same request cannot work."""

    code = grpc.StatusCode.INVALID_ARGUMENT


def require_style(style: str) -> str:
    """`style`, or InvalidRequest when the call names none: an empty id is a field left out, not an
    unknown style (NOT_FOUND "unknown style ''" sent the caller looking for a style of that name)."""
    if not style:
        raise InvalidRequest("a style is required: the id of one of the styles ListStyles lists (`tessera styles`)")
    return style


class ServerBusy(CallError):
    """Every slot for image calls (server-wide or this client's) is taken: retry with backoff."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class CallCancelled(CallError):
    """The call ended from outside (the client cancelled or went away, its deadline passed, shutdown)."""

    code = grpc.StatusCode.CANCELLED


class ClientTooSlow(CallError):
    """The client sent or read too slowly for the server to keep a slot for it."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class InferenceFailed(CallError):
    """The runtime failed on a region; the server's fault, not the client's. When the failure marked the
    version unhealthy (NaN or infinity in a served tile), `trailers` names it (tessera.unhealthy_trailer)."""

    code = grpc.StatusCode.INTERNAL
