"""GET /healthz: is the gateway up, and which inference servers can it reach?"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, jsonify

from bff.backend import backend
from tessera.client import server_is_serving

bp = Blueprint("health", __name__)
CHECK_TIMEOUT_S = 1.5


@bp.get("/healthz")
def healthz():
    """200 when at least one inference server answers its health check, else 503; each configured
    server is reported on its own; never cached."""
    servers = list(backend().config.servers)
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        answers = list(pool.map(lambda address: server_is_serving(address, CHECK_TIMEOUT_S), servers))
    serving = any(answers)
    body = {"status": "ok" if serving else "unavailable",
            "servers": [{"address": a, "serving": ok} for a, ok in zip(servers, answers, strict=True)]}
    if not serving:
        body["message"] = "The gateway is up but no inference server is answering."
    resp = jsonify(body)
    resp.status_code = 200 if serving else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
