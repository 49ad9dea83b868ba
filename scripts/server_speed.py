"""Serving speed of server variants (flags or environment), interleaved round by round on one machine.

    python -m scripts.server_speed --style blue-ink --megapixels 2 --rounds 5 \\
        --variant now --variant "trim 1s:memory_release_seconds=1" \\
        --variant "128k mmap:env.GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"

Each variant is a real `python -m inference_server` child on loopback (`--threads` ONNX Runtime
threads per call, by default the server's own), started once: `LABEL` alone is the defaults,
`LABEL:NAME=VALUE,...` adds server flags (max_batch_size=1 -> --max-batch-size 1) and environment
variables (env.NAME=VALUE). Every round restyles the same photo-like image with each variant in turn
(every other round in reverse order), `--clients` calls at once through tessera.client, and records
MP per wall second and MP per CPU-second of the server process (steadier when other work shares the
machine). One untimed call per variant warms it first. Prints one JSON line per round and variant,
then the medians and, per variant, the median of its per-round ratio to the first variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from bench.procfs import cpu_seconds
from scripts.local_stack import ROOT, server_process
from scripts.server_memory import sample_image
from tessera.client import TesseraClient


def parse_variant(text: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """'LABEL:NAME=VALUE,env.NAME=VALUE' -> (label, server flags, environment)."""
    label, _, spec = text.partition(":")
    flags, env = {}, {}
    for pair in filter(None, spec.split(",")):
        name, _, value = pair.partition("=")
        (env if name.startswith("env.") else flags)[name.removeprefix("env.")] = value
    return label, flags, env


def timed_calls(client: TesseraClient, pid: int, image, style: str, clients: int, tile: int | None) -> dict:
    """Run `clients` stylize calls at once; MP/s of wall time and per server CPU-second."""
    errors: list[Exception] = []

    def call() -> None:
        try:
            client.stylize(image, style, tile_size=tile)
        except Exception as exc:  # reported with the round, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(clients)]
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall, cpu_seconds(pid) - cpu
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed, e.g. {errors[0]}")
    megapixels = clients * image.shape[0] * image.shape[1] / 1e6
    return {"mp_per_s": round(megapixels / wall, 3), "mp_per_cpu_s": round(megapixels / max(cpu, 1e-9), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "model_registry")
    parser.add_argument("--style", default="blue-ink")
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=1, help="calls at once in each round")
    parser.add_argument("--tile", type=int, default=None, help="core tile edge (default: the client plans)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads per runtime call (0: the server's default)")
    parser.add_argument("--variant", action="append", required=True, help="LABEL[:NAME=VALUE,env.NAME=VALUE]")
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    side = int(round((args.megapixels * 1e6) ** 0.5))
    image = sample_image(side, side)
    rows: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
    with ExitStack() as stack:
        running = {}
        for label, flags, env in variants:
            process, address, _ = stack.enter_context(server_process(
                args.registry, timeout=300, env=env, threads=args.threads, poll_interval=3600, **flags))
            client = stack.enter_context(TesseraClient(address, timeout=3600))
            client.stylize(image, args.style, tile_size=args.tile)
            running[label] = (client, process.pid)
        for number in range(args.rounds):
            # Every other round in reverse (A B, B A, ...): the order within a round moved a variant's
            # figure by up to 8% on a shared 2-core machine, and the reversal cancels that.
            order = list(running.items())
            for label, (client, pid) in reversed(order) if number % 2 else order:
                row = timed_calls(client, pid, image, args.style, args.clients, args.tile)
                rows[label].append(row)
                print(json.dumps({"round": number, "variant": label, **row}), flush=True)
    first = rows[variants[0][0]]
    for label, values in rows.items():
        wall = statistics.median(v["mp_per_s"] for v in values)
        cpu = statistics.median(v["mp_per_cpu_s"] for v in values)
        ratio = statistics.median(v["mp_per_s"] / f["mp_per_s"] for v, f in zip(values, first, strict=True))
        cpu_ratio = statistics.median(v["mp_per_cpu_s"] / f["mp_per_cpu_s"] for v, f in zip(values, first, strict=True))
        print(f"{label}: median {wall:.3f} MP/s, {cpu:.3f} MP per server CPU-second; per-round ratio to "
              f"{variants[0][0]}: {ratio:.3f} (wall), {cpu_ratio:.3f} (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
