"""How the gateway's waitress server treats connections: how many, how long idle, how long a request
may take to arrive, and whether a busy connection is still read (so a client that hangs up is noticed)."""

from __future__ import annotations

from flask import Flask
from waitress.server import BaseWSGIServer, create_server

from bff.config import GatewayConfig


def gateway_server(app: Flask, config: GatewayConfig, **options: object) -> BaseWSGIServer:
    """waitress.create_server for the gateway: `options` (host, port, threads...) plus its limits,
    and slow requests closed (`close_slow_requests`). Raises OSError when it cannot listen."""
    server = create_server(app, **options, **waitress_limits(config))
    close_slow_requests(server, config.request_read_seconds)
    return server


def close_slow_requests(server: BaseWSGIServer, seconds: float) -> None:
    """Close a connection whose request has been arriving for more than `seconds`. A client that
    trickles its headers or body, a few bytes now and then, is never idle, so waitress's idle timeout
    spares it, and it holds one of the connections forever. Checked at waitress's cleanup ticks, so a
    request is closed up to a tick late."""
    maintenance = server.maintenance

    def with_slow_requests(now: float) -> None:
        maintenance(now)
        for channel in list(server.active_channels.values()):
            request = channel.request  # the request being received (None between requests)
            if request is None:
                continue
            first_seen = getattr(request, "tessera_first_seen", None)
            if first_seen is None:
                request.tessera_first_seen = now
            elif now - first_seen > seconds:
                channel.will_close = True

    server.maintenance = with_slow_requests


def waitress_limits(config: GatewayConfig) -> dict[str, object]:
    """Keyword arguments for waitress.create_server beyond host, port and threads."""
    proxy = {}
    if config.trusted_proxy:
        # Only on connections from that proxy does X-Forwarded-For set the client's address (per-client
        # limits key on it); waitress removes the header from every other connection.
        proxy = {"trusted_proxy": config.trusted_proxy, "trusted_proxy_count": config.trusted_proxy_hops,
                 "trusted_proxy_headers": {"x-forwarded-for"}}
    return {
        **proxy,
        # Keep reading a connection while its request runs: then environ["waitress.client_disconnected"]
        # tells a long request (POST /api/stylize) that its client has gone, and it cancels its work.
        "channel_request_lookahead": 1,
        # Connections open at once, idle or half-sent ones included; beyond it waitress stops accepting.
        "connection_limit": config.max_connections,
        # A connection that has sent no complete request (or sits idle between requests) for this long
        # is closed; one whose request is running (a progress stream, an upload being restyled) is not.
        "channel_timeout": int(config.idle_connection_timeout_s),
        # How often waitress looks for such connections (and for slow requests, close_slow_requests).
        "cleanup_interval": max(1, int(min(config.idle_connection_timeout_s, config.request_read_seconds)) // 4),
    }
