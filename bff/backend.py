"""The gateway's link to the inference servers: one shared TesseraClient and a short-lived style list.

Both live in `app.extensions` and are closed with the app; routes reach them through `backend()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from flask import Flask, current_app

from bff.config import GatewayConfig
from bff.errors import ApiError, from_grpc, unknown_style
from tessera.channels import read_ca
from tessera.client import StyleSummary, TesseraClient, TesseraError

EXTENSION = "tessera"


@dataclass
class Backend:
    """The client plus a cached copy of the style list, previews included so they are served from memory.

    The list is polled without previews (a few hundred bytes per style); previews are fetched again
    only when a style's serving version is new to the cache, since a preview belongs to a version.
    """

    client: TesseraClient
    config: GatewayConfig
    # One long-lived client per configured server, for /healthz's per-server report (the shared client
    # itself when there is only one server).
    server_clients: dict[str, TesseraClient] = field(default_factory=dict)
    _styles: list[StyleSummary] | None = None
    _styles_at: float = 0.0
    # (style, serving version) -> its summary as last listed with previews (the style's and its presets')
    _with_previews: dict[tuple[str, int], StyleSummary] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()

    def styles(self) -> list[StyleSummary]:
        """The servers' styles, at most `styles_cache_s` old; raises ApiError when they cannot be reached."""
        with self._lock:
            if self._styles is not None and time.monotonic() - self._styles_at < self.config.styles_cache_s:
                return self._styles
        styles = _listing(self.client.list_styles, include_previews=False)
        with self._lock:
            known = self._with_previews
        if any(s.serving_version and (s.id, s.serving_version) not in known for s in styles):
            styles = _listing(self.client.list_styles)
            known = {(s.id, s.serving_version): s for s in styles if s.serving_version}
        else:
            styles = [_previews_from(known.get((s.id, s.serving_version)), s) for s in styles]
        with self._lock:
            self._styles, self._styles_at, self._with_previews = styles, time.monotonic(), known
        return styles

    def style(self, style_id: str) -> StyleSummary:
        """One style by id, or ApiError 404 naming the style it may be a typo of and the styles that do exist."""
        styles = self.styles()
        for style in styles:
            if style.id == style_id:
                return style
        raise unknown_style(style_id, [s.id for s in styles])

    def serving_style(self, style_id: str) -> StyleSummary:
        """Like style(), but a style with no valid version is ApiError 503 with the server's reason."""
        style = self.style(style_id)
        if style.status != "SERVING":
            raise ApiError(503, "style_unavailable", f"The style {style.display_name or style.id!r} cannot be "
                                                     f"used right now: {public_status(style)}.", retry_after=30)
        return style

    def close(self) -> None:
        for client in {id(c): c for c in [self.client, *self.server_clients.values()]}.values():
            client.close()


# What the public is told of a style that cannot serve. The server's own status_message names files on its
# disk and runtime internals ("Load model from /srv/registry/x/3/model.onnx failed: Protobuf parsing
# failed"): that is for operators (`tessera styles`, `tessera admin status`, the server's log).
UNAVAILABLE = "it has no working model version on the server right now"


def public_status(style: StyleSummary) -> str:
    """The style's status for the page and the API: "" while it serves, else UNAVAILABLE."""
    return "" if style.status == "SERVING" else UNAVAILABLE


def _previews_from(listed: StyleSummary | None, style: StyleSummary) -> StyleSummary:
    """`style` (listed without previews) with the previews of the same version listed earlier."""
    if listed is None:
        return style
    presets = {p.id: p for p in listed.presets}
    return replace(style, preview_jpeg=listed.preview_jpeg,
                   presets=tuple(replace(p, preview_jpeg=presets[p.id].preview_jpeg) if p.id in presets else p
                                 for p in style.presets))


def call(fn: Callable, *args, **kwargs):
    """Calls the client and turns its TesseraError into the ApiError a browser should see."""
    try:
        return fn(*args, **kwargs)
    except TesseraError as err:
        raise from_grpc(err.code, err.message) from None


def _listing(fn: Callable, **kwargs):
    """`call` for the style list: a server that does not answer in time is starting or stuck, which no
    smaller image would help (from_grpc's 504 says to try one), so it is a 503 that says so, with
    Retry-After, and the page keeps asking (frontend_static/app.js, loadStyles)."""
    try:
        return call(fn, **kwargs)
    except ApiError as err:
        if err.status != 504:
            raise
        raise ApiError(503, "unavailable", "The inference servers have not answered yet; they may still be "
                                           "starting.", retry_after=5) from None


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Opens the client (channels connect lazily, so a server that is down does not stop the gateway)."""
    tls_ca = read_ca(config.server_ca)  # PEM certificates trusted for TLS; None means plaintext gRPC
    client = TesseraClient(list(config.servers), timeout=config.rpc_timeout_s, tls_ca=tls_ca,
                           stall_timeout=config.stall_timeout_s)
    if len(config.servers) == 1:
        server_clients = {config.servers[0]: client}
    else:
        server_clients = {a: TesseraClient(a, timeout=config.rpc_timeout_s, tls_ca=tls_ca) for a in config.servers}
    app.extensions[EXTENSION] = Backend(client=client, config=config, server_clients=server_clients)


def backend_of(app: Flask) -> Backend:
    """The Backend of `app`."""
    return app.extensions[EXTENSION]


def backend() -> Backend:
    """The current app's Backend."""
    return backend_of(current_app)
