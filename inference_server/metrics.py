"""Prometheus metrics of the inference server, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class ServerMetrics:
    """Requests and tiles by style and status code, latencies, batch sizes, loaded and rejected versions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # version: the model version that served the call ("" when none was leased, e.g. ListStyles).
        self.requests = Counter("tessera_requests", "Finished RPCs.", ["method", "style", "version", "code"],
                                registry=self.registry)
        self.tiles = Counter("tessera_tiles", "Tiles answered.", ["style", "code"], registry=self.registry)
        self.latency = Histogram("tessera_request_latency_seconds", "RPC latency.", ["method", "style"],
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                 registry=self.registry)
        self.batch_size = Histogram("tessera_batch_size", "Tiles per runtime call.", ["style"],
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16), registry=self.registry)
        self.image_calls = Gauge("tessera_image_calls", "Image calls (StylizeTiles, Stylize) whose handler is "
                                 "running, including ones whose caller has gone and that are stopping.",
                                 registry=self.registry)
        self.tiles_queued = Gauge("tessera_tiles_queued", "Tiles waiting for a runtime call.", ["style"],
                                  registry=self.registry)
        self.tiles_in_flight = Gauge("tessera_tiles_in_flight", "Tiles inside a runtime call now.", ["style"],
                                     registry=self.registry)
        self.passes = Counter("tessera_stream_passes", "Whole-image passes of a style-conditioned stream: 'context' "
                              "runs the context model on its thumbnail (before model.onnx runs its tiles), "
                              "'one_pass' serves an image that is its own thumbnail through whole.onnx alone.",
                              ["style", "kind"], registry=self.registry)
        self.nonfinite_tiles = Counter("tessera_nonfinite_tiles", "Served tiles whose output held NaN or "
                                       "infinity (each failed its call and marked its version unhealthy).",
                                       ["style", "version"], registry=self.registry)
        self.rejected = Gauge("tessera_rejected_versions", "Versions on disk that do not serve, or serve only from "
                              "memory, by reason (manifest, checksum, unloadable, io, probe, conditioning, whole, "
                              "engine_mismatch, unexpected, changed_on_disk, nonfinite_output).", ["style", "reason"],
                              registry=self.registry)
        self.loaded = Gauge("tessera_loaded_version", "1 for each loaded style version; serving says "
                            "whether it serves new streams.", ["style", "version", "runtime", "serving"],
                            registry=self.registry)

    def serve(self, port: int, host: str) -> int:
        """Expose /metrics on host:port (0 picks a free port) and return the port."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server.server_port

    def set_rejected(self, rows: list[tuple[str, str]]) -> None:
        """One (style, reason) row per version that does not serve as it should."""
        self.rejected.clear()
        for style, reason in rows:
            self.rejected.labels(style, reason).inc()

    def set_loaded(self, rows: list[tuple[str, int, str, bool]]) -> None:
        self.loaded.clear()
        for style, version, runtime, serving in rows:
            self.loaded.labels(style, str(version), runtime, str(serving).lower()).set(1)
