"""What handing a version's kept memory back costs its next tile (Runtime.release_idle).

    .venv/bin/python -m scripts.release_cost model_registry/wesnoth-painting/8 [--precision bf16] [--side 1104]

Loads the version's model at the precision (fp32 on ONNX Runtime, or a bf16 form on OpenVINO), warms
it on a side x side tile, then alternates: a warm run, `release_idle` and a heap trim, the run after
it. Prints the medians of both and their ratio; the batcher releases after IDLE_RELEASE_S without
tiles, so this is what the first tile of a burst after an idle pause pays (docs/serving.md, "Engines").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import median

import numpy as np

from inference_server.runtime import cpu_runtime
from tessera.heap import bound_heap, release_freed_memory
from tessera.registry import PRECISIONS, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version_dir", type=Path)
    parser.add_argument("--precision", choices=PRECISIONS, default="bf16")
    parser.add_argument("--side", type=int, default=1104, help="tile side in px, halo included")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    bound_heap()  # the server's heap settings, so freed blocks go back as they do there
    runtime = cpu_runtime(args.version_dir / read_manifest(args.version_dir).onnx.file, args.precision, threads=1)
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, (1, 3, args.side, args.side)).astype(np.float32)
    size = runtime.context_size()
    context = None if size is None else np.full((1, size), 0.5, np.float32)
    for _ in range(2):
        runtime.execute(batch, context)
    warm, after = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        runtime.execute(batch, context)
        warm.append(time.perf_counter() - started)
        runtime.release_idle()
        release_freed_memory()
        started = time.perf_counter()
        runtime.execute(batch, context)
        after.append(time.perf_counter() - started)
    print(json.dumps({"version": str(args.version_dir), "precision": args.precision, "side": args.side,
                      "warm_ms": round(median(warm) * 1000), "after_release_ms": round(median(after) * 1000),
                      "ratio": round(median(after) / median(warm), 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
