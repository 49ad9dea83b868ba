"""Builds and runs the gRPC server: StyleTransfer, Admin, health, reflection, metrics, watcher."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import asdict

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from inference_server.admin import AdminAuthInterceptor, AdminServicer
from inference_server.admission import ImageCallSlots
from inference_server.batcher import BatchSettings
from inference_server.config import ServerConfig
from inference_server.metrics import ServerMetrics
from inference_server.model_store import ModelStore
from inference_server.model_version import LoadSettings, load_version
from inference_server.servicer import ServicerSettings, StyleTransferServicer
from inference_server.tile_stream import StreamLimits
from tessera.client import MAX_MESSAGE_BYTES
from tessera.v1 import admin_pb2, style_transfer_pb2
from tessera.v1 import admin_pb2_grpc as apb_grpc
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc

log = logging.getLogger("inference_server")
STYLE_SERVICE = style_transfer_pb2.DESCRIPTOR.services_by_name["StyleTransfer"].full_name
# Calls that are not image work (health, ListStyles, reflection, admin) beyond --max-streams image calls.
CONTROL_RPC_HEADROOM = 8


def style_health_name(style_id: str) -> str:
    """The health-service name of one style, e.g. 'style/wesnoth-painting'."""
    return f"style/{style_id}"


class _Running:
    """A started server and what must be stopped with it."""

    def __init__(self, server: grpc.Server, port: int, store: ModelStore, health_servicer) -> None:
        self.server, self.port, self.store, self.health = server, port, store, health_servicer
        self._stop_watching = threading.Event()

    def watch(self, interval: float) -> None:
        def loop() -> None:
            while not self._stop_watching.wait(interval):
                try:
                    self.store.refresh()
                except Exception:  # a bad scan must not end the watcher; the next one may succeed
                    log.exception("registry scan failed")

        threading.Thread(target=loop, name="registry-watcher", daemon=True).start()

    def stop(self, grace: float) -> None:
        self._stop_watching.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.store.close()


def start(config: ServerConfig, metrics: ServerMetrics) -> _Running:
    """Load the registry, then start serving on config.host:config.port."""
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    settings = LoadSettings(threads=config.threads,
                            batching=BatchSettings(config.max_batch_size, config.max_queue_delay_ms),
                            observe_batch=lambda style, n: metrics.batch_size.labels(style).observe(n))
    store = ModelStore(config.registry, lambda path: load_version(path, settings),
                       on_change=lambda s: _report(s, health_servicer, metrics))
    store.refresh()
    interceptors = [AdminAuthInterceptor(config.admin_token)] if config.admin_token else []
    slots = ImageCallSlots(config.max_streams, config.max_streams)
    # Room above the image calls' handler threads, so health checks, ListStyles and admin calls answer
    # at full load.
    max_rpcs = slots.max_threads + CONTROL_RPC_HEADROOM
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_rpcs, thread_name_prefix="rpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=max_rpcs,
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
    )
    limits = StreamLimits(max_image_pixels=config.max_image_pixels, idle_seconds=config.stream_idle_seconds)
    servicer = StyleTransferServicer(store, ServicerSettings(limits, config.default_tile_size, slots), metrics)
    pb_grpc.add_StyleTransferServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [STYLE_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    if config.admin_token:
        apb_grpc.add_AdminServicer_to_server(AdminServicer(store, config.default_tile_size), server)
        names.append(admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    server.start()
    running = _Running(server, port, store, health_servicer)
    running.watch(config.poll_interval)
    return running


def _report(store: ModelStore, health_servicer, metrics: ServerMetrics) -> None:
    """Publish per-style health and the loaded-versions gauge after every registry scan."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    rows = []
    for state in store.styles():
        current = state.serving
        health_servicer.set(style_health_name(state.meta.id), serving if current else not_serving)
        rows += [(state.meta.id, v, m.runtime.name, m is current) for v, m in state.versions.items()]
    health_servicer.set("", serving)
    health_servicer.set(STYLE_SERVICE, serving)
    metrics.set_loaded(rows)


def serve(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then let in-flight calls finish within the grace period."""
    log.info("configuration: %s", {**asdict(config), "admin_token": "***" if config.admin_token else ""})
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # before serving, so no signal finds the default action
        signal.signal(signum, lambda *_: stop.set())
    metrics = ServerMetrics()
    if config.metrics_port >= 0:
        metrics_port = metrics.serve(config.metrics_port, config.host)
        print(f"metrics on http://{config.host}:{metrics_port}/metrics", flush=True)
    running = start(config, metrics)
    print(f"tessera-server listening on {config.host}:{running.port}", flush=True)
    try:
        # Wake up now and then: a signal that lands on another thread only runs its Python handler
        # once the main thread executes bytecode again, and a bare wait() would block that forever.
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: in-flight calls get %.0f s", config.grace_seconds)
        running.stop(config.grace_seconds)
