"""The inference server's configuration: one dataclass, built once from flags and environment."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from tessera.tiling import DEFAULT_TILE_SIZE


@dataclass(frozen=True)
class ServerConfig:
    registry: Path
    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = -1
    threads: int = 0
    max_batch_size: int = 4
    max_queue_delay_ms: float = 2.0
    max_streams: int = 32
    max_image_pixels: int = 200_000_000
    default_tile_size: int = DEFAULT_TILE_SIZE
    poll_interval: float = 2.0
    grace_seconds: float = 10.0
    stream_idle_seconds: float = 60.0
    admin_token: str = ""


# flag, type, environment variable, help
_FLAGS = [
    ("--registry", Path, "TESSERA_REGISTRY", "model registry directory (required)"),
    ("--host", str, "TESSERA_HOST", "address to listen on"),
    ("--port", int, "TESSERA_PORT", "gRPC port; 0 picks a free one (the chosen port is printed)"),
    ("--metrics-port", int, "TESSERA_METRICS_PORT", "/metrics port; 0 picks a free one, -1 turns metrics off"),
    ("--threads", int, "TESSERA_THREADS", "ONNX Runtime intra-op threads per model; 0 = all cores"),
    ("--max-batch-size", int, "TESSERA_MAX_BATCH_SIZE", "tiles per runtime call"),
    ("--max-queue-delay-ms", float, "TESSERA_MAX_QUEUE_DELAY_MS", "how long a tile waits for a batch"),
    ("--max-streams", int, "TESSERA_MAX_STREAMS", "concurrent StylizeTiles/Stylize calls; more get RESOURCE_EXHAUSTED"),
    ("--max-image-pixels", int, "TESSERA_MAX_IMAGE_PIXELS", "largest image a stream may declare"),
    ("--default-tile-size", int, "TESSERA_DEFAULT_TILE_SIZE", "core tile edge offered to clients"),
    ("--poll-interval", float, "TESSERA_POLL_INTERVAL", "seconds between registry scans"),
    ("--grace-seconds", float, "TESSERA_GRACE_SECONDS", "time in-flight calls get to finish on SIGTERM"),
    ("--stream-idle-seconds", float, "TESSERA_STREAM_IDLE_SECONDS", "a stream with no tile for this long ends"),
    ("--admin-token", str, "TESSERA_ADMIN_TOKEN", "token for the Admin service; empty disables it"),
]


def parse_config(argv: list[str] | None = None) -> ServerConfig:
    """Flags override environment variables, which override the defaults."""
    parser = argparse.ArgumentParser(prog="tessera-server", description="Tessera gRPC inference server.")
    defaults = ServerConfig(registry=Path("model_registry"))
    for flag, kind, env, text in _FLAGS:
        field = flag.removeprefix("--").replace("-", "_")
        default = os.environ.get(env, getattr(defaults, field))
        parser.add_argument(flag, type=kind, default=kind(default) if default is not None else None,
                            help=f"{text} [env {env}, default %(default)s]")
    args = parser.parse_args(argv)
    if not args.registry.is_dir():
        parser.error(f"registry {args.registry} is not a directory")
    return ServerConfig(**vars(args))
