"""The inference server's configuration: one dataclass, built once in main() from flags and environment.

Flags and `TESSERA_*` variables are derived from the fields (tessera/settings.py); batching and
stream limits are the settings dataclasses of the modules that use them, so each default is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inference_server.batcher import BatchSettings
from inference_server.runtime import CPU_ENGINES, DEFAULT_CPU_ENGINE, cpu_engine
from inference_server.tile_stream import StreamLimits
from inference_server.warm_up import MIN_RUNS, WarmUp
from tessera.heap import TRIM_SECONDS
from tessera.settings import FlagParser, SettingsError, fail, parse_settings, setting
from tessera.tiling import DEFAULT_TILE_SIZE, MAX_TILE_SIZE, MIN_TILE_SIZE

PORT = {"minimum": 0, "maximum": 65535}


@dataclass(frozen=True)
class ServerConfig:
    registry: Path = setting(Path("model_registry"), "model registry directory")
    host: str = setting("127.0.0.1", "address to listen on; beyond loopback, use --tls-cert/--tls-key")
    port: int = setting(50051, "gRPC port; 0 picks a free one (the chosen port is printed)", **PORT)
    metrics_port: int = setting(-1, "Prometheus /metrics port; 0 picks a free one, -1 turns metrics off",
                                minimum=-1, maximum=65535)
    threads: int = setting(0, "ONNX Runtime intra-op threads per runtime call; 0 = the cores shared among "
                              "the batcher's runners (--runners; one thread each by default)", minimum=0)
    cpu_engine: str = setting(DEFAULT_CPU_ENGINE, "onnxruntime: every version on ONNX Runtime fp32; auto: a version "
                                                  "whose manifest lists a bf16 form on OpenVINO in bf16 where the CPU "
                                                  "has native bf16 (AMX, AVX-512 BF16) and its probe tiles agree with "
                                                  "ONNX Runtime fp32, and one in an exact form (fp32-openvino) on "
                                                  "OpenVINO fp32 on any CPU where its probe tiles give ONNX Runtime's "
                                                  "bytes: faster, about 200 MB more per runner while such a version "
                                                  "serves (docs/serving.md, Engines)",
                              parse=cpu_engine, metavar="{" + ",".join(CPU_ENGINES) + "}")
    batching: BatchSettings = field(default_factory=BatchSettings)
    max_streams: int = setting(32, "image calls (StylizeTiles, Stylize) running at once; more get "
                                   "RESOURCE_EXHAUSTED", minimum=1)
    max_streams_per_peer: int = setting(16, "image calls running at once from one client address",
                                        minimum=1)
    streams: StreamLimits = field(default_factory=StreamLimits)
    default_tile_size: int = setting(DEFAULT_TILE_SIZE, "core tile edge offered to clients, in pixels",
                                     minimum=MIN_TILE_SIZE, maximum=MAX_TILE_SIZE)
    poll_interval: float = setting(2.0, "seconds between registry scans", minimum=0.01)
    load_versions: int = setting(2, "versions of each style to load: the newest this many healthy ones, plus "
                                    "a pinned one (Triton's 'latest N' version policy); older ones load when "
                                    "pinned or rolled back to. 0 loads every version", minimum=0)
    grace_seconds: float = setting(10.0, "time in-flight calls get to finish on SIGTERM", minimum=0)
    # Given --admin-token-file, parse_config fills this from the file and keeps the file's path below.
    admin_token: str = setting("", "bearer token of the Admin service; empty turns it off. A flag is visible "
                                   "to every user of the machine (ps): prefer --admin-token-file or the variable",
                               secret=True)
    admin_token_file: Path | None = setting(None, "file holding the admin token (read once at start)")
    tls_cert: Path | None = setting(None, "PEM certificate chain; with --tls-key the server speaks TLS only")
    tls_key: Path | None = setting(None, "PEM private key of --tls-cert")
    heap_trim_seconds: float = setting(TRIM_SECONDS, "under load that never lets a model's queue run dry, hand freed "
                                            "heap memory back to the OS at least this often; 0: only when a "
                                            "queue runs dry (docs/serving.md, Memory)", minimum=0)
    warmup_runs: int = setting(WarmUp.max_runs, f"most runs of the default tile that warm a new version before it "
                                               f"serves: at least {MIN_RUNS} however long they take (fewer only when "
                                               f"this is lower), then until two in a row agree within "
                                               f"{WarmUp.settle:.0%}, starting none after {WarmUp.budget_seconds:g} "
                                               f"s; 0 serves cold", minimum=0)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together: give both or neither")


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Flags override environment variables, which override the defaults; a bad value exits with status 2."""
    parser = FlagParser(prog="tessera-server", description="Tessera gRPC inference server.",
                                     epilog="Flags win over TESSERA_* variables, which win over the defaults.")
    config, _ = parse_settings(ServerConfig, argv, parser, environ)
    if not config.registry.is_dir():
        fail(parser.prog, f"registry {config.registry} is not a directory")
    try:
        return _read_secrets(config)
    except SettingsError as exc:
        fail(parser.prog, str(exc))


def _read_secrets(config: ServerConfig) -> ServerConfig:
    """Fill the admin token from its file, and check the TLS files can be read. The file's path stays in
    the config, so the start-up line names where the token came from (the token itself shows as ***)."""
    if config.admin_token and config.admin_token_file is not None:
        raise SettingsError("give the admin token once: --admin-token (or its variable) or --admin-token-file")
    for path in (config.tls_cert, config.tls_key):
        if path is not None and not path.is_file():
            raise SettingsError(f"TLS file {path} does not exist")
    if config.admin_token_file is None:
        return config
    try:
        token = config.admin_token_file.read_text().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the admin token file {config.admin_token_file}: {exc.strerror}") from None
    if not token:
        raise SettingsError(f"the admin token file {config.admin_token_file} is empty")
    return dataclasses.replace(config, admin_token=token)
