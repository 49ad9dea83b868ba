"""Where a registry version's tile time goes: ONNX Runtime's own profiler, summed per operator type and node.

    .venv/bin/python -m scripts.graph_profile model_registry/blue-ink/9 [--tile 772x856] [--runs 4] [--threads 1]

The version's context model runs once on a random thumbnail at its manifest's side, as
trainer.painters serves it; the tile model then runs ``--runs`` times (after two unprofiled warm-up
runs) on a random tile of ``--tile`` pixels (W x H, the core plus its halo: 772x856 is the server's
tile of a 2048x1536 photo for a 44 px halo), with the session options every Tessera session uses
(tessera/onnx_session.py). Prints one JSON object: milliseconds per run, each operator type's
share, and the ten slowest nodes in ms per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort

from scripts.sizes import parse_size
from tessera.onnx_session import CPU, session_options
from tessera.registry import CONTEXT_INPUT, INPUT_NAME, RegistryError, read_manifest
from trainer.painters import onnx_painter


def profile(version: Path, width: int, height: int, runs: int, threads: int) -> dict:
    """{"ms_per_run", "op_share", "slowest_nodes_ms"} of the version's tile model (see module doc).
    A style-conditioned version paints its first style (a one-hot code)."""
    manifest = read_manifest(version)
    rng = np.random.default_rng(0)
    feeds = {INPUT_NAME: rng.uniform(-1, 1, (1, 3, height, width)).astype(np.float32)}
    painter = onnx_painter(version, style_index=0, threads=threads)
    side = painter.thumbnail_size
    context = painter.context(rng.uniform(-1, 1, (1, 3, side * 3 // 4 // 4 * 4, side)).astype(np.float32))
    if context is not None:
        feeds[CONTEXT_INPUT] = context
    with tempfile.TemporaryDirectory() as folder:
        options = session_options(threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(version / manifest.onnx.file), options, providers=CPU)
        for _ in range(2 + runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    # The first two runs' nodes are the warm-up: keep the last `runs` runs' share of the events.
    nodes = nodes[len(nodes) * 2 // (2 + runs):]
    by_op, by_node = Counter(), Counter()
    for event in nodes:
        by_op[event["args"]["op_name"]] += event["dur"]
        by_node[event["name"].removesuffix("_kernel_time")] += event["dur"]
    total = sum(by_op.values())
    return {"ms_per_run": round(total / runs / 1000, 1),
            "op_share": {op: round(us / total, 3) for op, us in by_op.most_common()},
            "slowest_nodes_ms": {node: round(us / runs / 1000, 1) for node, us in by_node.most_common(10)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", type=Path, help="registry version folder (with manifest.json)")
    parser.add_argument("--tile", default="772x856", help="WxH of the tile with its halo")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.tile)
    except ValueError:
        print(f"error: --tile is WxH, e.g. 772x856, got {args.tile!r}", file=sys.stderr)
        return 2
    if args.runs < 1 or min(width, height) < 16:
        print("error: --runs must be at least 1 and the tile at least 16x16", file=sys.stderr)
        return 2
    try:
        result = profile(args.version, width, height, args.runs, args.threads)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
