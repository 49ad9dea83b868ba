"""Builds and runs the gRPC server: StyleTransfer, Admin, health, reflection, metrics, watcher."""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from inference_server.admin import AdminAuthInterceptor, AdminServicer
from inference_server.admission import ImageCallGate, ImageCallSlots, ImagePool
from inference_server.batcher import TileGauges, call_threads, usable_cores
from inference_server.config import ServerConfig
from inference_server.metrics import ServerMetrics
from inference_server.model_store import ModelStore
from inference_server.model_version import LoadSettings, load_version
from inference_server.servicer import ServicerSettings, StyleTransferServicer
from inference_server.warm_up import WarmUp
from tessera.client import MAX_MESSAGE_BYTES
from tessera.heap import HeapTrimmer, bound_heap
from tessera.registry import RegistryError
from tessera.settings import describe
from tessera.stop_signal import StopFlag, StopSignal
from tessera.v1 import admin_pb2, style_transfer_pb2
from tessera.v1 import admin_pb2_grpc as apb_grpc
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc

log = logging.getLogger("inference_server")
STYLE_SERVICE = style_transfer_pb2.DESCRIPTOR.services_by_name["StyleTransfer"].full_name
# Threads for the calls that are not image work (health, ListStyles, reflection, admin); image calls
# have a pool of their own.
CONTROL_THREADS = 16
# The largest message the server reads. Valid messages stay far below it (a tile of 1024 px with a
# 256 px halo is 7 MB, a unary image of 16 MP is at most 48 MB as PNG), so a message that is wrong
# because of its size, up to this limit, gets the server's own INVALID_ARGUMENT naming the problem;
# beyond it gRPC refuses with RESOURCE_EXHAUSTED "Received message larger than max".
MAX_RECEIVE_BYTES = 128 * 1024 * 1024


def style_health_name(style_id: str) -> str:
    """The health-service name of one style, e.g. 'style/wesnoth-painting'."""
    return f"style/{style_id}"


class _Running:
    """A started server and what must be stopped with it."""

    def __init__(self, server: grpc.Server, image_pool: ImagePool, port: int, store: ModelStore,
                 health_servicer) -> None:
        self.server, self.image_pool, self.port, self.store, self.health = (server, image_pool, port, store,
                                                                            health_servicer)
        self._stop_watching = threading.Event()

    def watch(self, interval: float) -> None:
        def loop() -> None:
            failing = ""  # the failure being reported, so that one that repeats every scan is logged once
            while not self._stop_watching.wait(interval):
                try:
                    self.store.refresh()
                except Exception as error:  # a bad scan must not end the watcher; the next one may succeed
                    failing = _report_scan_failure(error, failing)
                else:
                    if failing:
                        log.info("registry scan works again (it failed with: %s)", failing)
                    failing = ""

        threading.Thread(target=loop, name="registry-watcher", daemon=True).start()

    def stop(self, grace: float) -> None:
        self._stop_watching.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.image_pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()


class StartError(Exception):
    """The server cannot start (a port is taken, a TLS file is unreadable); str() says why, in one line."""


def _report_scan_failure(error: Exception, failing: str) -> str:
    """Logs a failed registry scan unless it is the failure already reported (a registry folder gone is
    met by every scan, every 2 s: one line, not a traceback each time); returns what is now failing.
    A RegistryError says what is wrong in a sentence; anything else gets its traceback, once."""
    said = f"{type(error).__name__}: {error}"
    if said != failing:
        if isinstance(error, RegistryError):
            log.error("registry scan failed: %s; serving what is loaded until a scan succeeds", error)
        else:
            log.exception("registry scan failed; serving what is loaded until a scan succeeds")
    return said


def start(config: ServerConfig, metrics: ServerMetrics, stopping: StopFlag | None = None) -> _Running:
    """Bind config.host:config.port, load the registry, then start serving; raises StartError.
    Once `stopping` is set, loading stops after the version being loaded (a SIGTERM during start-up)."""
    bound_heap()  # before the runtimes' threads start: docs/serving.md, "Memory"
    health_servicer = health.HealthServicer(experimental_non_blocking=True)

    def on_nonfinite(model, first: bool) -> None:
        metrics.nonfinite_tiles.labels(model.style, str(model.version)).inc()
        if first:
            store.version_unhealthy(model)

    settings = LoadSettings(threads=call_threads(config.threads, config.batching.runners),
                            cpu_engine=config.cpu_engine,
                            batching=config.batching,
                            observe_batch=lambda style, n: metrics.batch_size.labels(style).observe(n),
                            tile_gauges=lambda style: TileGauges(metrics.tiles_queued.labels(style),
                                                                 metrics.tiles_in_flight.labels(style)),
                            observe_pass=lambda style, kind: metrics.passes.labels(style, kind).inc(),
                            on_nonfinite=on_nonfinite,
                            warm_up=WarmUp(max_runs=config.warmup_runs, tile_size=config.default_tile_size),
                            trimmer=HeapTrimmer(config.heap_trim_seconds))
    reported: set[str] = set()  # the styles _report last published health for
    store = ModelStore(config.registry, lambda path: load_version(path, settings),
                       on_change=lambda s: _report(s, health_servicer, metrics, reported), keep=config.load_versions,
                       workers=max(1, usable_cores() // settings.threads), stopping=stopping)
    slots = ImageCallSlots(config.max_streams, config.max_streams_per_peer)
    server, image_pool = _grpc_server(config, slots)
    servicer = StyleTransferServicer(
        store, ServicerSettings(config.streams, config.default_tile_size, slots, MAX_MESSAGE_BYTES), metrics)
    pb_grpc.add_StyleTransferServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [STYLE_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    if config.admin_token:
        apb_grpc.add_AdminServicer_to_server(AdminServicer(store, config.default_tile_size), server)
        names.append(admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name)
    reflection.enable_server_reflection(names, server)
    port = _bind(server, config)  # before loading any model: a taken port fails at once
    store.refresh()
    server.start()
    running = _Running(server, image_pool, port, store, health_servicer)
    running.watch(config.poll_interval)
    return running


def _grpc_server(config: ServerConfig, slots: ImageCallSlots) -> tuple[grpc.Server, ImagePool]:
    """A server whose image calls run on their own threads (see admission.py), so control calls always
    find one of the others."""
    image_pool = ImagePool(max_workers=2 * slots.max_calls)
    interceptors = [ImageCallGate(image_pool, max_waiting=slots.max_calls, slots=slots,
                                  upload_seconds=config.streams.unary_upload_seconds)]
    if config.admin_token:
        interceptors.append(AdminAuthInterceptor(config.admin_token))
    # gRPC's own cap counts every call; image calls are bounded below it by the gate and their pool.
    max_rpcs = 3 * slots.max_calls + CONTROL_THREADS * 4
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=CONTROL_THREADS, thread_name_prefix="rpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=max_rpcs,
        options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 # gRPC sets SO_REUSEPORT by default, so a second server on a taken port would start and
                 # silently share its traffic; without it, binding a taken port fails.
                 ("grpc.so_reuseport", 0)],
    )
    return server, image_pool


def _bind(server: grpc.Server, config: ServerConfig) -> int:
    """Listen on config.host:config.port (TLS when a certificate is configured) and return the port.
    A port that cannot be bound raises StartError, in one line: gRPC's own log line about it is held back."""
    address = f"{config.host}:{config.port}"
    try:
        credentials = None
        if config.tls_cert is not None:
            key, cert = config.tls_key.read_bytes(), config.tls_cert.read_bytes()
            credentials = grpc.ssl_server_credentials([(key, cert)])
    except OSError as exc:
        raise StartError(f"cannot read the TLS files: {exc}") from None
    with _stderr_held() as held:
        try:
            port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        except RuntimeError:
            port = 0
    said = "".join(held)
    if port:
        sys.stderr.write(said)  # nothing failed: whatever was written goes out after all
        return port
    # gRPC's C core logs the failure to stderr itself, from this thread ("E1204 ... add_port.cc:83] Failed
    # to add port to server: ... Address already in use"; with TLS files it cannot use,
    # "ssl_transport_security.cc:1558] Invalid cert chain file." and a TSI_ line after it); the start's one
    # line says it instead. Only those lines are dropped: anything else written meanwhile goes out, such
    # as another in-process server's TLS handshake lines (the same files, another thread) or a warning.
    own, others = _split_bind_lines(said, threading.get_native_id())
    sys.stderr.write(others)
    raise StartError(f"cannot listen on {address}: {_bind_failure(own)}")


# gRPC's own log lines about a failed bind, which the start's one line replaces, by the file logging them.
_GRPC_BIND_LINE = re.compile(r"add_port|ssl_transport_security|ssl_security_connector|TSI_")
# gRPC's log line prefix, "E1204 10:00:00.123456   20300 add_port.cc:83] ": its third field is the thread.
_GRPC_LOG_THREAD = re.compile(r"^[IWEF]\d{4} [\d:.]+ +(\d+) ")
# What gRPC says when a bind fails, and the start's words for it.
_BIND_FAILURES = (("Address already in use", "the port is in use"),
                  ("Cannot assign requested address", "the address is not this machine's"))
# What gRPC says when the TLS certificate or key cannot be used (unreadable PEM, a key that is not the
# certificate's): before any port is tried.
_TLS_FAILURES = ("Unable to create secure server", "TSI_", "ssl_transport_security")


def _split_bind_lines(said: str, thread: int) -> tuple[str, str]:
    """(the lines a failed bind in thread `thread` logged, everything else) of what fd 2 held meanwhile.
    A bind's lines are gRPC's about binding and TLS files from that thread (by its native id), or from no
    thread it names; the same files' lines from other threads are other servers' handshakes."""
    own, others = [], []
    for line in said.splitlines(keepends=True):
        logged_by = _GRPC_LOG_THREAD.match(line)
        ours = _GRPC_BIND_LINE.search(line) and (logged_by is None or int(logged_by.group(1)) == thread)
        (own if ours else others).append(line)
    return "".join(own), "".join(others)


def _bind_failure(said: str) -> str:
    """Why a bind failed, from the lines gRPC wrote about it (_split_bind_lines): in words for the usual
    causes, else in the system's."""
    if any(cause in said for cause in _TLS_FAILURES):
        detail = re.search(r"ssl_transport_security\.cc:\d+\] ([^\n]*?)\.?\s*$", said, re.MULTILINE)
        return "the TLS certificate or key is not valid" + (f" ({detail.group(1)})" if detail else "")
    for cause, words in _BIND_FAILURES:
        if cause in said:
            return words
    reason = re.search(r"Error in bind for address '[^']*': ([^)\n]+)", said)
    return reason.group(1) if reason else "the port is in use (or the address is not this machine's)"


# File descriptor 2 belongs to the whole process: one block at a time holds it (servers started in one
# process, scripts.local_stack.local_server, bind from several threads). Re-entrant: a nested block
# saves and restores the outer one's file.
_STDERR_LOCK = threading.RLock()


@contextmanager
def _stderr_held() -> Iterator[list[str]]:
    """File descriptor 2 goes to a temporary file for the length of the block: what gRPC's C core (or
    anyone) writes there meanwhile is held, and put in the list given, for the caller to pass on or drop.
    When the block raises, what was held goes out to stderr before the exception does."""
    held: list[str] = []
    with _STDERR_LOCK, tempfile.TemporaryFile() as file:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(file.fileno(), 2)
        failed = True
        try:
            yield held
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            file.seek(0)
            held.append(file.read().decode(errors="replace"))
            if failed:  # nobody is left to pass it on
                sys.stderr.write("".join(held))
                sys.stderr.flush()


def _report(store: ModelStore, health_servicer, metrics: ServerMetrics, reported: set[str]) -> None:
    """Publish per-style health and the loaded- and rejected-versions gauges after every registry scan,
    and when a version turns unhealthy. `reported` holds the styles the last report listed, and is
    updated: a style removed since (ListStyles no longer lists it) reports NOT_SERVING, as the health
    service keeps a name's last status for good."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    rows, rejected = [], []
    states = store.styles()
    for state in states:
        current = state.serving
        health_servicer.set(style_health_name(state.meta.id), serving if state.healthy else not_serving)
        rows += [(state.meta.id, v, m.runtime.name, m is current) for v, m in state.versions.items()]
        rejected += [(state.meta.id, reason) for reason, _ in state.problems()]
    listed = {state.meta.id for state in states}
    for gone in sorted(reported - listed):
        health_servicer.set(style_health_name(gone), not_serving)
    reported.clear()
    reported |= listed
    health_servicer.set("", serving)
    health_servicer.set(STYLE_SERVICE, serving)
    metrics.set_loaded(rows)
    metrics.set_rejected(rejected)


def serve(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT, then let in-flight calls finish within the grace period.

    Raises StartError when a port cannot be bound.
    """
    log.info("configuration: %s", describe(config))
    stop = StopSignal()  # before serving, so no signal finds the default action
    metrics = ServerMetrics()
    if config.metrics_port >= 0:
        try:
            metrics_port = metrics.serve(config.metrics_port, config.host)
        except OSError as exc:
            raise StartError(f"cannot serve metrics on {config.host}:{config.metrics_port}: {exc.strerror}") from None
        print(f"metrics on http://{config.host}:{metrics_port}/metrics", flush=True)
    running = start(config, metrics, stopping=stop)
    scheme = "TLS" if config.tls_cert is not None else "plaintext"
    print(f"tessera-server listening on {config.host}:{running.port} ({scheme})", flush=True)
    try:
        # Wake up now and then: a signal that lands on another thread only runs its Python handler
        # once the main thread executes bytecode again, and a bare wait() would block that forever.
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: in-flight calls get %.0f s", config.grace_seconds)
        running.stop(config.grace_seconds)
        log.info("server stopped")
