"""Operator RPCs (reload, pin, unpin, roll back, status) and the interceptor that guards them."""

from __future__ import annotations

import hmac

import grpc

from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.style_info import style_info
from tessera.registry import RegistryError
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc

ADMIN_PREFIX = "/tessera.v1.Admin/"


class AdminAuthInterceptor(grpc.ServerInterceptor):
    """Refuses Admin calls whose `authorization: Bearer <token>` metadata is missing or wrong."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._missing = _denial("admin calls need the metadata 'authorization: Bearer <admin token>' (tessera admin: "
                                "--token, or TESSERA_ADMIN_TOKEN)")
        self._wrong = _denial("the admin token does not match the one this server was started with "
                              "(--admin-token-file, --admin-token or TESSERA_ADMIN_TOKEN)")

    def intercept_service(self, continuation, handler_call_details):
        if not handler_call_details.method.startswith(ADMIN_PREFIX):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        scheme, _, offered = metadata.get("authorization", "").partition(" ")
        # The scheme is required: a bare token is refused, as RFC 6750 clients never send one.
        if scheme == "Bearer" and hmac.compare_digest(offered.encode(), self._token):
            return continuation(handler_call_details)
        return self._wrong if scheme == "Bearer" and offered else self._missing


def _denial(message: str) -> grpc.RpcMethodHandler:
    """A handler that refuses the call with UNAUTHENTICATED and `message`."""
    def deny(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(deny)


class AdminServicer(apb_grpc.AdminServicer):
    def __init__(self, store: ModelStore, default_tile_size: int) -> None:
        self._store = store
        self._tile = default_tile_size

    def Reload(self, request, context):
        try:
            self._store.refresh()
        except (RegistryError, OSError) as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"the registry cannot be read: {exc}")
        return apb.ReloadResponse(styles=[style_info(s, self._tile) for s in self._store.styles()])

    def Pin(self, request, context):
        return self._change(context, lambda: self._store.pin(request.style, request.version or None))

    def Unpin(self, request, context):
        return self._change(context, lambda: self._store.pin(request.style, None))

    def Rollback(self, request, context):
        return self._change(context, lambda: self._store.rollback(request.style))

    def Status(self, request, context):
        states = self._store.styles()
        rejected = [apb.RejectedVersion(style=s.meta.id, version=v, reason=str(r))
                    for s in states for v, r in sorted(s.rejected.items())]
        rejected += [apb.RejectedVersion(style=s.meta.id, version=v, reason=f"changed on disk since it was loaded: "
                                         f"{change}; the copy in memory still serves until a restart")
                     for s in states for v, change in sorted(s.changed_on_disk.items())]
        return apb.StatusResponse(styles=[style_info(s, self._tile) for s in states], rejected=rejected)

    def _change(self, context, action):
        try:
            state = action()
        except StyleNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (StyleUnavailable, RegistryError, OSError) as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return apb.StyleStatusResponse(style=style_info(state, self._tile))
