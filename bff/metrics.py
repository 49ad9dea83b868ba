"""GET /metrics: the gateway's Prometheus metrics, in a registry of the app's own.

Requests by route template (never the raw path, so job ids do not become series), method and code;
time to answer; jobs by state and the queue depth, read from the job store at scrape time; open
progress streams. With the Redis store, queued and running count the whole cluster's jobs.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

EXTENSION = "tessera_metrics"
bp = Blueprint("metrics", __name__)


class GatewayMetrics:
    """The gateway's series; `jobs` is called at scrape time and returns ({state: count}, queue depth)."""

    def __init__(self, jobs) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tessera_gateway_requests", "HTTP requests answered.", ["route", "method", "code"],
                                registry=self.registry)
        self.latency = Histogram("tessera_gateway_request_seconds",
                                 "Time to answer a request (for event streams: until the headers).",
                                 ["route", "method"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.event_streams = Gauge("tessera_gateway_event_streams", "Progress streams (SSE) open now.",
                                   registry=self.registry)
        self.registry.register(_JobsCollector(jobs))


class _JobsCollector:
    def __init__(self, jobs) -> None:
        self._jobs = jobs

    def collect(self):
        by_state, depth = self._jobs()
        states = GaugeMetricFamily("tessera_gateway_jobs", "Jobs known to the job store, by state.",
                                   labels=["state"])
        for state, count in sorted(by_state.items()):
            states.add_metric([state], count)
        yield states
        yield GaugeMetricFamily("tessera_gateway_queue_depth", "Jobs queued or running in the job queue.",
                                value=depth)


def init_app(app: Flask, jobs) -> None:
    """Counts every request of `app`; `jobs` reads job counts at scrape time (see GatewayMetrics)."""
    metrics = GatewayMetrics(jobs)
    app.extensions[EXTENSION] = metrics

    @app.before_request
    def _start_clock() -> None:
        g.tessera_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        started = g.get("tessera_started")
        if started is not None:
            metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)
        return response


def metrics_of(app: Flask) -> GatewayMetrics:
    return app.extensions[EXTENSION]


def stream_opened() -> None:
    metrics_of(current_app).event_streams.inc()


def stream_closer(app: Flask):
    """What a closing event stream calls (it may run after the app context is gone)."""
    return metrics_of(app).event_streams.dec


@bp.get("/metrics")
def metrics():
    """The Prometheus text format; like /healthz it is for the platform, not for browsers."""
    body = generate_latest(metrics_of(current_app).registry)
    resp = Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0])
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    resp.headers["Cache-Control"] = "no-store"
    return resp
