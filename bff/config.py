"""The gateway's one configuration object, built once in main() from flags and environment."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

# frontend_static/ sits beside the bff package in the source tree (also in an editable install).
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent.parent / "frontend_static"

MB = 1_000_000


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway process needs to know; defaults suit a laptop."""

    # Inference servers as host:port; several mean client-side round_robin over them.
    servers: tuple[str, ...] = ("127.0.0.1:50051",)
    host: str = "127.0.0.1"
    port: int = 8080
    # Waitress worker threads: every open progress stream (SSE) holds one, so keep some spare.
    threads: int = 16
    max_upload_bytes: int = 25 * MB
    max_pixels: int = 50 * MB
    # Deadline of one whole stylization, and of the quick calls (list styles, health).
    stylize_timeout_s: float = 600.0
    rpc_timeout_s: float = 5.0
    # Jobs: how long a finished job and its result stay fetchable, how many run at once,
    # and how many may wait or run before new ones are turned away with 429.
    job_ttl_s: float = 900.0
    job_workers: int = 2
    max_active_jobs: int = 8
    # HTTP connections open at once (idle and half-sent ones included), and how long one may sit without
    # a complete request before it is closed (waitress's connection_limit and channel_timeout).
    max_connections: int = 500
    idle_connection_timeout_s: float = 20.0
    # The upload form's own limits: fields (image, style, strength, format and a few spare), the length
    # of a field's name, and the size of a text (non-file) field.
    max_form_fields: int = 16
    max_field_name_chars: int = 100
    max_text_field_bytes: int = 16_000
    # How long the style list (with previews) is reused before asking the servers again.
    styles_cache_s: float = 10.0
    static_dir: Path = field(default=DEFAULT_STATIC_DIR)

    def as_log_line(self) -> str:
        """One human-readable line with every setting, for the start-up log."""
        return ", ".join(f"{name}={value}" for name, value in vars(self).items())


def _env(name: str, default: object) -> str:
    return os.environ.get(f"TESSERA_{name}", str(default))


def parse_args(argv: list[str] | None = None) -> GatewayConfig:
    """Builds the config from command-line flags; every flag defaults to a TESSERA_* variable."""
    d = GatewayConfig()
    p = argparse.ArgumentParser(
        prog="python -m bff",
        description="Tessera gateway: the web page and HTTP API in front of the inference servers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def flag(name: str, env: str, kind: type, default: object, text: str) -> None:
        p.add_argument(name, type=kind, default=kind(_env(env, default)), help=f"{text}; env TESSERA_{env}")

    p.add_argument("--server", default=_env("SERVERS", ",".join(d.servers)),
                   help="inference server(s) as HOST:PORT[,HOST:PORT...]; env TESSERA_SERVERS")
    flag("--host", "GATEWAY_HOST", str, d.host, "address to listen on (0.0.0.0 for all interfaces)")
    flag("--port", "GATEWAY_PORT", int, d.port, "port to listen on, 0 picks a free one")
    flag("--threads", "GATEWAY_THREADS", int, d.threads, "HTTP worker threads")
    flag("--max-upload-mb", "MAX_UPLOAD_MB", float, d.max_upload_bytes / MB, "largest upload in megabytes")
    flag("--max-megapixels", "MAX_MEGAPIXELS", float, d.max_pixels / MB,
         "largest image in megapixels (guards against decompression bombs)")
    flag("--stylize-timeout", "STYLIZE_TIMEOUT", float, d.stylize_timeout_s,
         "deadline in seconds for restyling one image")
    flag("--rpc-timeout", "RPC_TIMEOUT", float, d.rpc_timeout_s, "deadline in seconds for quick calls")
    flag("--job-ttl", "JOB_TTL", float, d.job_ttl_s, "seconds a finished job's result stays available")
    flag("--job-workers", "JOB_WORKERS", int, d.job_workers, "images restyled at the same time")
    flag("--max-active-jobs", "MAX_ACTIVE_JOBS", int, d.max_active_jobs,
         "images queued or running before new ones are refused with 429")
    flag("--static-dir", "STATIC_DIR", Path, d.static_dir, "folder with the web page")
    a = p.parse_args(argv)
    servers = tuple(s.strip() for s in a.server.split(",") if s.strip())
    if not servers:
        p.error("--server needs at least one HOST:PORT")
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            p.error(f"--server: {server!r} is not HOST:PORT")
    return GatewayConfig(
        servers=servers, host=a.host, port=a.port, threads=a.threads,
        max_upload_bytes=int(a.max_upload_mb * MB), max_pixels=int(a.max_megapixels * MB),
        stylize_timeout_s=a.stylize_timeout, rpc_timeout_s=a.rpc_timeout, job_ttl_s=a.job_ttl,
        job_workers=a.job_workers, max_active_jobs=a.max_active_jobs, static_dir=a.static_dir,
    )
