"""How the gateway's waitress server treats connections: how many, how long idle, and whether a busy
connection is still read (so a client that hangs up is noticed)."""

from __future__ import annotations

from bff.config import GatewayConfig


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
        # How often waitress looks for such connections.
        "cleanup_interval": max(1, int(config.idle_connection_timeout_s) // 4),
    }
