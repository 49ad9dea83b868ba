"""The gateway's one configuration object, built once in main() from flags and environment.

Flags and `TESSERA_*` variables are derived from the fields (tessera/settings.py); defaults live here only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tessera.clip_defaults import MAX_CLIP_SECONDS
from tessera.number_checks import finite_float
from tessera.settings import BoundedParse, FlagParser, SettingsError, parse_settings, setting
from tessera.tile_streams import STALL_TIMEOUT_S
from tessera.tiling import MAX_ASPECT_RATIO

# frontend_static/ sits beside the bff package in the source tree (also in an editable install).
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent.parent / "frontend_static"

MB = 1_000_000
# Multipart framing around the file: room for the form fields, too little to matter as a loophole.
FORM_OVERHEAD_BYTES = 64 * 1024
# The largest number of millions a flag in MB or megapixels takes (a terabyte): beyond it, a slip.
MAX_MILLIONS = 1e6
# gRPC's DNS resolver: every address the name has (a Kubernetes headless Service), kept up to date.
DNS_SCHEME = "dns:///"


# What a flag in millions takes, in the words of its refusal and of its help.
MILLIONS_BOUNDS = f"more than 0 and at most {MAX_MILLIONS:,.0f}"


def _parse_millions(text: str) -> int:
    """'25' or '2.5' (millions) -> 25_000_000 or 2_500_000; flags in MB and megapixels read this way."""
    value = finite_float(text)
    if not 0 < value <= MAX_MILLIONS:
        raise ValueError(f"must be {MILLIONS_BOUNDS}, got {text.strip()}")
    if int(value * MB) < 1:
        raise ValueError(f"must be at least {1 / MB:f} (one byte or pixel), got {text.strip()}")
    return int(value * MB)


_millions = BoundedParse(_parse_millions, MILLIONS_BOUNDS)


def parse_servers(text: str) -> tuple[str, ...]:
    """'HOST:PORT[,HOST:PORT...]' or 'dns:///NAME:PORT' -> a tuple of addresses; ValueError names a
    malformed one."""
    servers = tuple(s.strip() for s in text.split(",") if s.strip())
    if not servers:
        raise ValueError("needs at least one HOST:PORT")
    for server in servers:
        host, _, port = server.removeprefix(DNS_SCHEME).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{server!r} is not HOST:PORT or dns:///NAME:PORT")
    if len(servers) > 1 and any(s.startswith(DNS_SCHEME) for s in servers):
        raise ValueError("a dns:/// target must be the only server address")
    return servers


def parse_job_store(text: str) -> str:
    """'memory' or a Redis URL (redis://, rediss://, unix://); ValueError otherwise."""
    if text == "memory" or text.startswith(("redis://", "rediss://", "unix://")):
        return text
    raise ValueError(f"{text!r} is neither 'memory' nor a redis:// URL")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway process needs to know; defaults suit a laptop."""

    # Several servers (or a dns:/// name with several addresses) mean client-side round_robin over them.
    servers: tuple[str, ...] = setting(("127.0.0.1:50051",), "inference server(s) as HOST:PORT[,HOST:PORT...] "
                                       "or dns:///NAME:PORT", flag="--server", env="SERVERS", parse=parse_servers)
    host: str = setting("127.0.0.1", "address to listen on (0.0.0.0 for all interfaces)", env="GATEWAY_HOST")
    port: int = setting(8080, "port to listen on, 0 picks a free one", env="GATEWAY_PORT", minimum=0, maximum=65535)
    # Every open progress stream (SSE) holds a waitress thread, so keep some spare.
    threads: int = setting(16, "HTTP worker threads", env="GATEWAY_THREADS", minimum=1)
    max_upload_bytes: int = setting(25 * MB, "largest upload in megabytes", flag="--max-upload-mb",
                                    env="MAX_UPLOAD_MB", parse=_millions, shown="25")
    max_pixels: int = setting(50 * MB, "largest image in megapixels (guards against decompression bombs)",
                              flag="--max-megapixels", env="MAX_MEGAPIXELS", parse=_millions, shown="50")
    stylize_timeout_s: float = setting(600.0, "deadline in seconds for restyling one image",
                                       flag="--stylize-timeout", env="STYLIZE_TIMEOUT", minimum=0.1)
    rpc_timeout_s: float = setting(5.0, "deadline in seconds for quick calls (list styles, health)",
                                   flag="--rpc-timeout", env="RPC_TIMEOUT", minimum=0.1)
    # A hung server (it takes the call but sends nothing back) is given up on after this, not after the
    # whole deadline; a large image whose tiles keep coming back is not (tessera.tile_streams).
    stall_timeout_s: float = setting(STALL_TIMEOUT_S, "seconds an image call may go without any tile coming back "
                                                      "before it fails as 'the model server stopped answering'",
                                     flag="--stall-timeout", env="STALL_TIMEOUT", minimum=0.1)
    # A preview is one small tile, a fraction of a second of work, so a hung server is given up on sooner
    # for it; the page asks for a failed preview again a few times (frontend_static/previews.js).
    preview_stall_timeout_s: float = setting(20.0, "seconds a preview may wait for its one tile before it fails "
                                                   "as 'the model server stopped answering' (at most "
                                                   "--stall-timeout)", flag="--preview-stall-timeout",
                                             env="PREVIEW_STALL_TIMEOUT", minimum=0.1)
    job_ttl_s: float = setting(900.0, "seconds a finished job's result stays available", flag="--job-ttl",
                               env="JOB_TTL", minimum=1)
    # Finished results (with their heat maps, and a batch's photos) stay until their expires_at, however
    # many there are; this bounds the memory they take by refusing new jobs (429) instead. 1000 MB holds
    # what a busy CPU gateway makes in a --job-ttl: about 40 twelve-megapixel photos in 15 minutes, as
    # PNG (up to 36 MB each) or as JPEG with a batch's photo kept beside each (8 MB each, ~125 of them),
    # beside the 500 MB of --max-photo-mb and the ~1.3 GB that --max-decoded-megapixels lets jobs decode.
    max_result_bytes: int = setting(1000 * MB, "megabytes of finished results (with their heat maps and a batch's "
                                               "photos) this process keeps until they expire (memory store); "
                                               "beyond it new jobs get 429", flag="--max-result-mb",
                                    env="MAX_RESULT_MB", parse=_millions, shown="1000")
    job_workers: int = setting(2, "images restyled at the same time (with Redis: jobs this gateway runs itself, "
                                  "0 to leave them to workers)", minimum=0)
    max_active_jobs: int = setting(8, "images queued or running before new ones are refused with 429", minimum=1)
    # Video clips (POST /api/jobs with a clip): checked from the container's header before decoding.
    max_clip_seconds: float = setting(MAX_CLIP_SECONDS, "longest video clip in seconds", flag="--max-clip-seconds",
                                      env="MAX_CLIP_SECONDS", minimum=0.1)
    max_clip_pixels: int = setting(600 * MB, "most pixels in one clip, all frames together, in megapixels",
                                   flag="--max-clip-megapixels", env="MAX_CLIP_MEGAPIXELS", parse=_millions,
                                   shown="600")
    max_aspect_ratio: int = setting(MAX_ASPECT_RATIO, "longest side of an image over its shortest; beyond it 400 (a "
                                                      "strip costs far more tiles than its pixels; the inference "
                                                      "server refuses beyond 1000)",
                                    minimum=1, maximum=MAX_ASPECT_RATIO)
    # Decoded pixels held at once by all jobs of the process (each from its decode until its result is
    # encoded; about 20 bytes per pixel in flight were measured). Jobs beyond it wait; a larger image runs alone.
    max_decoded_pixels: int = setting(64 * MB, "decoded megapixels held at once by all jobs of the process",
                                      flag="--max-decoded-megapixels", env="MAX_DECODED_MEGAPIXELS",
                                      parse=_millions, shown="64")
    # Progress streams one client address may hold (all clients together: half the threads).
    max_streams_per_client: int = setting(3, "progress streams (SSE) one client address may hold open",
                                          minimum=1)
    # The reverse proxy whose X-Forwarded-For names the client (waitress's trusted_proxy: its address, or
    # "*" for any peer); empty trusts no header, since any client could write one.
    trusted_proxy: str = setting("", "address of the reverse proxy whose X-Forwarded-For names the client "
                                     "('*': any peer; empty: trust no header)")
    trusted_proxy_hops: int = setting(1, "proxies in the chain in front of the gateway that append to "
                                         "X-Forwarded-For", minimum=1)
    # Where jobs live: this process only, or Redis shared by gateway replicas and workers. A job whose
    # runner stopped heartbeating for claim_idle_s is taken over by another consumer.
    job_store: str = setting("memory", "'memory' (one process) or redis://HOST:PORT/N (shared by gateway replicas "
                                       "and workers)", parse=parse_job_store)
    max_queued_jobs: int = setting(200, "photos waiting or running in the shared queue (and in batches) before new "
                                        "ones get 429", minimum=1)
    claim_idle_s: float = setting(30.0, "seconds without a heartbeat before another replica takes over a job "
                                        "(Redis store)", flag="--claim-idle", env="CLAIM_IDLE", minimum=0.1)
    # Photo batches (POST /api/batches): most photos and most bytes in one request.
    max_batch_photos: int = setting(50, "most photos in one batch", minimum=1)
    max_batch_bytes: int = setting(100 * MB, "largest batch upload in megabytes", flag="--max-batch-mb",
                                   env="MAX_BATCH_MB", parse=_millions, shown="100")
    # waitress's connection_limit and channel_timeout: HTTP connections open at once (idle and half-sent
    # ones included), and how long one may sit without a complete request before it is closed.
    max_connections: int = setting(500, "HTTP connections open at once, idle and half-sent ones included",
                                   minimum=1)
    idle_connection_timeout_s: float = setting(20.0, "seconds a connection may sit without a complete request "
                                                     "before it is closed", flag="--idle-connection-timeout",
                                               env="IDLE_CONNECTION_TIMEOUT", minimum=0.1)
    request_read_seconds: float = setting(300.0, "seconds a request (headers and body) may take to arrive whole "
                                                 "before its connection is closed", flag="--request-read-seconds",
                                          env="REQUEST_READ_SECONDS", minimum=0.1)
    # The upload form's own limits: fields (image, style, strength, format and a few spare), the length
    # of a field's name, and the size of a text (non-file) field.
    max_form_fields: int = setting(16, "fields in one upload form", minimum=1)
    max_field_name_chars: int = setting(100, "characters in a form field's name", minimum=1)
    max_text_field_bytes: int = setting(16_000, "bytes in a text (non-file) form field", minimum=1)
    styles_cache_s: float = setting(10.0, "seconds the style list is reused before asking the "
                                          "servers again (previews only when a version changes)",
                                    flag="--styles-cache", env="STYLES_CACHE", minimum=0)
    # Photos uploaded once (POST /api/photos) and reused by id (bff/photos.py).
    photo_ttl_s: float = setting(3600.0, "seconds an uploaded photo stays available (from its upload)",
                                 flag="--photo-ttl", env="PHOTO_TTL", minimum=1)
    max_photos_per_client: int = setting(20, "photos one client address may keep at once", minimum=1)
    max_photo_bytes: int = setting(500 * MB, "megabytes of photos this process keeps at once (memory store)",
                                   flag="--max-photo-mb", env="MAX_PHOTO_MB", parse=_millions, shown="500")
    preview_size: int = setting(512, "long side in pixels of the previews of a photo", minimum=16, maximum=2048)
    more_looks_size: int = setting(320, "long side in pixels the previews outside the featured grid (a conditioned "
                                        "style's presets after its first) are painted at, then enlarged to "
                                        "--preview-size; at or above it they are painted at that size",
                                   minimum=16, maximum=2048)
    preview_cache_bytes: int = setting(128 * MB, "megabytes of thumbnails and previews kept for reuse",
                                       flag="--preview-cache-mb", env="PREVIEW_CACHE_MB", parse=_millions,
                                       shown="128")
    max_preview_calls: int = setting(4, "previews restyled at the same time by this process", minimum=1)
    static_dir: Path = setting(DEFAULT_STATIC_DIR, "folder with the web page", shown="frontend_static/")
    server_ca: Path | None = setting(None, "PEM certificate(s) to trust for TLS to the inference servers "
                                           "(their --tls-cert, or the CA that signed it); unset: plain gRPC")

    def __post_init__(self) -> None:
        if self.server_ca is not None and not Path(self.server_ca).is_file():
            raise SettingsError(f"--server-ca {self.server_ca} is not a file")
        if self.job_store == "memory" and self.job_workers < 1:
            raise SettingsError("--job-workers must be at least 1 with the memory job store (nothing else would "
                                "run jobs)")

    def as_log_line(self) -> str:
        """One human-readable line with every setting, for the start-up log."""
        return ", ".join(f"{name}={value}" for name, value in vars(self).items())


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Builds the config from flags over TESSERA_* variables over defaults; a bad value exits with status 2."""
    parser = FlagParser(
        prog="tessera-gateway",
        description="Tessera gateway: the web page and HTTP API in front of the inference servers.",
        epilog="Flags win over TESSERA_* variables, which win over the defaults.",
    )
    config, _ = parse_settings(GatewayConfig, argv, parser, environ)
    return config


def start_process(config, log: logging.Logger) -> None:
    """What every gateway or worker process does first: log its settings. (Pillow's process-wide
    decompression-bomb guard is not involved: tessera.imageio opens files without it, so that
    `max_pixels` is the one pixel limit that applies.)"""
    log.info("config: %s", config.as_log_line())
