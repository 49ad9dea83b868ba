"""`python -m bff.worker` / `tessera-worker`: runs queued jobs from Redis without serving HTTP.

Workers and gateway replicas read the same consumer group, so heavy work scales apart from the web
tier: start gateways with `--job-workers 0` and as many workers as the inference servers can feed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bff.config import GatewayConfig, _millions, parse_job_store, parse_servers, start_process
from bff.job_queue import executor
from bff.job_runner import JobRunner
from bff.pixel_budget import PixelBudget
from bff.redis_jobs import RedisJobStore
from tessera.channels import read_ca
from tessera.client import TesseraClient
from tessera.settings import FlagParser, SettingsError, describe, parse_settings, setting
from tessera.stop_signal import StopSignal

log = logging.getLogger("bff.worker")
_GATEWAY = GatewayConfig  # the shared settings keep the gateway's defaults, written once there


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs: the shared job store, the inference servers, and how to run jobs."""

    job_store: str = setting("", "the Redis job store, redis://HOST:PORT/N (required)", parse=parse_job_store)
    servers: tuple[str, ...] = setting(_GATEWAY.servers, "inference server(s) as HOST:PORT[,HOST:PORT...] or "
                                       "dns:///NAME:PORT", flag="--server", env="SERVERS", parse=parse_servers)
    job_workers: int = setting(_GATEWAY.job_workers, "jobs this worker runs at the same time", minimum=1)
    claim_idle_s: float = setting(_GATEWAY.claim_idle_s, "seconds without a heartbeat before another consumer "
                                                         "takes over a job", flag="--claim-idle", env="CLAIM_IDLE",
                                  minimum=0.1)
    job_ttl_s: float = setting(_GATEWAY.job_ttl_s, "seconds a finished job's result stays available",
                               flag="--job-ttl", env="JOB_TTL", minimum=1)
    max_queued_jobs: int = setting(_GATEWAY.max_queued_jobs, "bound of the shared queue (as the gateways')",
                                   minimum=1)
    max_pixels: int = setting(_GATEWAY.max_pixels, "largest image in megapixels", flag="--max-megapixels",
                              env="MAX_MEGAPIXELS", parse=_millions, shown="50")
    max_decoded_pixels: int = setting(_GATEWAY.max_decoded_pixels, "decoded megapixels held at once by all jobs "
                                      "of the process", flag="--max-decoded-megapixels",
                                      env="MAX_DECODED_MEGAPIXELS", parse=_millions, shown="64")
    stylize_timeout_s: float = setting(_GATEWAY.stylize_timeout_s, "deadline in seconds for restyling one image",
                                       flag="--stylize-timeout", env="STYLIZE_TIMEOUT", minimum=0.1)
    rpc_timeout_s: float = setting(_GATEWAY.rpc_timeout_s, "deadline in seconds for quick calls",
                                   flag="--rpc-timeout", env="RPC_TIMEOUT", minimum=0.1)
    stall_timeout_s: float = setting(_GATEWAY.stall_timeout_s, "seconds an image call may go without any tile "
                                                               "coming back before it fails",
                                     flag="--stall-timeout", env="STALL_TIMEOUT", minimum=0.1)
    server_ca: Path | None = setting(None, "PEM certificate(s) to trust for TLS to the inference servers; unset: "
                                           "plain gRPC")

    def __post_init__(self) -> None:
        if not self.job_store.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("--job-store must be a redis:// URL: a worker shares its queue with the gateways")
        if self.server_ca is not None and not Path(self.server_ca).is_file():
            raise SettingsError(f"--server-ca {self.server_ca} is not a file")

    def as_log_line(self) -> str:
        return describe(self)


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> WorkerConfig:
    """Flags over TESSERA_* variables over defaults; a bad value exits with status 2."""
    parser = FlagParser(prog="tessera-worker", epilog="Flags win over TESSERA_* variables, which "
                                     "win over the defaults.",
                                     description="Tessera worker: runs queued restyle jobs from the Redis job store.")
    config, _ = parse_settings(WorkerConfig, argv, parser, environ)
    return config


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    start_process(config, log)
    try:
        client = TesseraClient(list(config.servers), timeout=config.rpc_timeout_s, tls_ca=read_ca(config.server_ca),
                               stall_timeout=config.stall_timeout_s)
    except (ValueError, OSError) as err:
        log.error("cannot start the worker: %s", err)
        return 2
    store = RedisJobStore(config.job_store, ttl_s=config.job_ttl_s, max_queued=config.max_queued_jobs,
                          claim_idle_s=config.claim_idle_s)
    budget = PixelBudget(config.max_decoded_pixels)
    runner = JobRunner(store, executor(config, client, budget), threads=config.job_workers)
    stop = StopSignal()
    runner.start()
    print(f"Tessera worker {runner.consumer}: {config.job_workers} jobs at a time from {config.job_store} "
          f"(inference servers: {', '.join(config.servers)})", flush=True)
    while not stop.wait(0.5):  # wakes now and then so a signal is handled promptly
        pass
    log.info("stopping: running jobs get 10 s, the rest are taken over by other consumers")
    runner.stop(grace_s=10.0)
    store.shutdown()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
