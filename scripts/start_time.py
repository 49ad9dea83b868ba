"""Seconds from launching the inference server until it reports SERVING, and its RSS then, per version policy.

    .venv/bin/python -m scripts.start_time [--registry model_registry] [--load-versions 2 0] [--rounds 2]

Every round starts a real `python -m inference_server` child on loopback once per `--load-versions`
value in turn (interleaved, so a change of load hits all alike) and times it until its health
service says SERVING: what `make run` and every test on the shipped registry wait for (loading,
validating and warming each loaded version). Prints one JSON line per start, then the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from scripts.local_stack import ROOT, server_process
from scripts.server_memory import rss_mib
from tessera.registry import style_dirs, version_dirs


def start_once(registry: Path, load_versions: int) -> dict:
    began = time.monotonic()
    with server_process(registry, timeout=600, load_versions=load_versions) as (process, _, _):
        seconds = time.monotonic() - began
        return {"load_versions": load_versions, "seconds": round(seconds, 2), "rss_mib": round(rss_mib(process.pid))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "model_registry")
    parser.add_argument("--load-versions", type=int, nargs="+", default=[2, 0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    versions = sum(len(version_dirs(d)) for d in style_dirs(args.registry))
    print(f"{args.registry}: {versions} versions in {len(style_dirs(args.registry))} styles")
    rows = []
    for _ in range(args.rounds):
        for policy in args.load_versions:
            rows.append(start_once(args.registry, policy))
            print(json.dumps(rows[-1]), flush=True)
    for policy in args.load_versions:
        mine = [r for r in rows if r["load_versions"] == policy]
        print(f"--load-versions {policy}: median {statistics.median(r['seconds'] for r in mine):.1f} s to SERVING, "
              f"RSS {statistics.median(r['rss_mib'] for r in mine):.0f} MiB")


if __name__ == "__main__":
    main()
