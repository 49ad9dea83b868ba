"""Operator RPCs (reload, pin, unpin, roll back, status) and the interceptor that guards them.

Every call that changes what serves, and every refused admin call, is one log line naming the caller's
address (context.peer()), what it asked and what came of it, so an operator can tell who did what;
the token is never logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import grpc

from inference_server.errors import InvalidRequest, require_style
from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.style_info import style_info
from inference_server.style_state import StyleState
from inference_server.unknown_ids import LONGEST_ECHO
from tessera.registry import RegistryError
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc

ADMIN_PREFIX = "/tessera.v1.Admin/"
_MISSING = ("admin calls need the metadata 'authorization: Bearer <admin token>' (tessera admin: --token, or "
            "TESSERA_ADMIN_TOKEN)")
_WRONG = ("the admin token does not match the one this server was started with (--admin-token-file, --admin-token "
          "or TESSERA_ADMIN_TOKEN)")

log = logging.getLogger(__name__)


class AdminAuthInterceptor(grpc.ServerInterceptor):
    """Refuses Admin calls whose `authorization: Bearer <token>` metadata is missing or wrong."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if not method.startswith(ADMIN_PREFIX):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        scheme, _, offered = metadata.get("authorization", "").partition(" ")
        # The scheme is required: a bare token is refused, as RFC 6750 clients never send one.
        if scheme == "Bearer" and hmac.compare_digest(offered.encode(), self._token):
            return continuation(handler_call_details)
        wrong = scheme == "Bearer" and bool(offered)
        return _denial(method.removeprefix(ADMIN_PREFIX), _WRONG if wrong else _MISSING,
                       "the token does not match" if wrong else "no bearer token")


def _denial(method: str, message: str, why: str) -> grpc.RpcMethodHandler:
    """A handler that logs the refused call and refuses it with UNAUTHENTICATED and `message`."""
    def deny(request, context):
        log.warning("admin %s by %s: UNAUTHENTICATED: %s", method, context.peer(), why)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(deny)


class AdminServicer(apb_grpc.AdminServicer):
    def __init__(self, store: ModelStore, default_tile_size: int) -> None:
        self._store = store
        self._tile = default_tile_size

    def Reload(self, request, context):
        call = f"admin Reload by {context.peer()}"
        try:
            self._store.refresh()
        except (RegistryError, OSError) as exc:
            message = f"the registry cannot be read: {exc}"
            log.info("%s: FAILED_PRECONDITION: %s", call, message)
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)
        states = self._store.styles()
        log.info("%s: OK: %s", call, "; ".join(f"style {s.meta.id} {_serving_words(s)}" for s in states) or "no styles")
        return apb.ReloadResponse(styles=[style_info(s, self._tile) for s in states])

    def Pin(self, request, context):
        asked = f" version {request.version}" if request.version else " version 0 (unpins)"
        return self._change(context, "Pin", request.style, asked,
                            lambda: self._store.pin(request.style, request.version or None))

    def Unpin(self, request, context):
        return self._change(context, "Unpin", request.style, "", lambda: self._store.pin(request.style, None))

    def Rollback(self, request, context):
        return self._change(context, "Rollback", request.style, "", lambda: self._store.rollback(request.style))

    def Status(self, request, context):
        states = self._store.styles()
        rejected = [apb.RejectedVersion(style=s.meta.id, version=v, reason=str(r))
                    for s in states for v, r in sorted(s.rejected.items())]
        rejected += [apb.RejectedVersion(style=s.meta.id, version=v, reason=f"changed on disk since it was loaded: "
                                         f"{change}; the copy in memory still serves until a restart")
                     for s in states for v, change in sorted(s.changed_on_disk.items())]
        return apb.StatusResponse(styles=[style_info(s, self._tile) for s in states], rejected=rejected)

    def _change(self, context, method: str, style: str, asked: str, action: Callable[[], StyleState]):
        """Run `action` on `style` and log the call's line: the caller, the style, the version `asked`
        and the outcome (the pin and the version serving after it, or the status and why)."""
        call = f"admin {method} by {context.peer()}: style {_echo(style)}{asked}"
        before = self._serving(style)
        try:
            require_style(style)
            state = action()
        except InvalidRequest as exc:
            code, message = exc.code, exc.message
        except StyleNotFound as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except (StyleUnavailable, RegistryError, OSError) as exc:
            code, message = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        else:
            pin, now = state.meta.pinned_version, _serving_words(state)
            log.info("%s: OK: %s; %s%s", call, "no pin" if pin is None else f"pinned version {pin}", now,
                     "" if before in ("", now) else f" (it was {before})")
            return apb.StyleStatusResponse(style=style_info(state, self._tile))
        log.info("%s: %s: %s", call, code.name, message)
        context.abort(code, message)

    def _serving(self, style: str) -> str:
        """What serves `style` now, as _serving_words says it ("" for a style the store does not list)."""
        state = next((s for s in self._store.styles() if s.meta.id == style), None)
        return _serving_words(state) if state is not None else ""


def _serving_words(state: StyleState) -> str:
    serving = state.serving
    return f"serving version {serving.version}" if serving is not None else "serving no version"


def _echo(style: str) -> str:
    """The asked style id for the log: quoted, so a line break in it cannot forge a log line, and cut short."""
    return repr(style if len(style) <= LONGEST_ECHO else style[:LONGEST_ECHO] + "…")
