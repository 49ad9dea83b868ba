"""GET /healthz: is the gateway up, and can its requests reach an inference server right now?"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, jsonify

from bff.backend import backend

bp = Blueprint("health", __name__)
CHECK_TIMEOUT_S = 1.5


@bp.get("/healthz")
def healthz():
    """200 when a health check over the channel that requests use answers SERVING, else 503.

    The status is what a request would meet at this moment (the same channel, in the same reconnect
    state); `servers` adds each configured server's own answer, over a long-lived channel of its own.
    Never cached."""
    gateway = backend()
    serving = gateway.client.check_health(timeout=CHECK_TIMEOUT_S)
    servers = list(gateway.server_clients)
    if len(servers) == 1:
        answers = [serving]
    else:
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            answers = list(pool.map(lambda a: gateway.server_clients[a].check_health(timeout=CHECK_TIMEOUT_S),
                                    servers))
    body = {"status": "ok" if serving else "unavailable",
            "servers": [{"address": a, "serving": ok} for a, ok in zip(servers, answers, strict=True)]}
    if not serving:
        body["message"] = "The gateway is up but no inference server is answering."
    resp = jsonify(body)
    resp.status_code = 200 if serving else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
