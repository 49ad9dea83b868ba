"""Tessera's gateway (backend-for-frontend): the web page and a small HTTP API over the gRPC servers."""

from __future__ import annotations

from flask import Flask

from bff import (
    access_log,
    api_batches,
    api_jobs,
    api_limits,
    api_maps,
    api_photos,
    api_styles,
    api_stylize,
    backend,
    client_limits,
    errors,
    form_limits,
    health,
    job_queue,
    jobs,
    metrics,
    openapi,
    pages,
    photo_stores,
    pixel_budget,
    previews,
    security,
)
from bff.config import FORM_OVERHEAD_BYTES, GatewayConfig


def create_app(config: GatewayConfig | None = None) -> Flask:
    """Builds the gateway app from a GatewayConfig (the defaults when None)."""
    config = config or GatewayConfig()
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(
        TESSERA=config,
        STATIC_DIR=str(config.static_dir),
        # Werkzeug answers 413 by itself, before reading the body, when a request is larger than this.
        MAX_CONTENT_LENGTH=config.max_upload_bytes + FORM_OVERHEAD_BYTES,
    )
    app.json.sort_keys = False
    errors.init_app(app)
    form_limits.init_app(app, config)
    security.init_app(app)
    access_log.init_app(app)
    backend.init_app(app, config)
    jobs.init_app(app, config)
    client_limits.init_app(app, config)
    pixel_budget.init_app(app, config)
    job_queue.init_app(app, config)
    queue = job_queue.job_queue_of(app)
    photo_stores.init_app(app, config, getattr(queue, "redis", None))
    previews.init_app(app, config)
    metrics.init_app(app, job_queue.job_counts(app))
    for module in (api_styles, api_limits, api_photos, api_stylize, api_jobs, api_maps, api_batches, openapi, health,
                   metrics, pages):
        app.register_blueprint(module.bp)
    return app


def close_app(app: Flask) -> None:
    """Releases what create_app opened: drops queued jobs (in memory; Redis keeps its own), stops this
    gateway's job runner and closes the gRPC channel."""
    jobs.job_store_of(app).shutdown()
    job_queue.job_queue_of(app).shutdown()
    backend.backend_of(app).close()
