"""GET /healthz: is the gateway up, and can it reach an inference server?"""

from __future__ import annotations

from flask import Blueprint, jsonify

from bff.backend import backend

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when at least one inference server answers its health check, else 503; never cached."""
    gateway = backend()
    serving = gateway.client.check_health()
    body = {"status": "ok" if serving else "unavailable", "servers": list(gateway.config.servers)}
    if not serving:
        body["message"] = "The gateway is up but no inference server is answering."
    resp = jsonify(body)
    resp.status_code = 200 if serving else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
