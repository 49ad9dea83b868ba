"""Speed of ONNX Runtime with and without its CPU memory arena, interleaved in one process.

    python -m scripts.arena_speed [--style wesnoth-painting] [--rounds 3]

Two sessions of a shipped style's newest version, identical but for `enable_cpu_mem_arena` and
`enable_mem_pattern` (tessera/onnx_session.py turns both off), each run on four 1024 px tiles with
a 48 px halo that cover a 2048x1536 photo-like image, alternating A, B, A, B. Prints MP/s per round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

from scripts.local_stack import ROOT
from scripts.server_memory import sample_image
from tessera.onnx_session import CPU, session_options
from tessera.pixels import rgb8_to_nchw
from tessera.registry import version_dirs

WIDTH, HEIGHT, CORE, HALO = 2048, 1536, 1024, 48


def _session(path, arena: bool) -> ort.InferenceSession:
    options = session_options(2)
    options.enable_cpu_mem_arena = arena
    options.enable_mem_pattern = arena
    return ort.InferenceSession(str(path), options, providers=CPU)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="wesnoth-painting")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    versions = version_dirs(ROOT / "model_registry" / args.style)
    path = versions[max(versions)] / "model.onnx"
    image = rgb8_to_nchw(sample_image(WIDTH, HEIGHT))
    tiles = [np.ascontiguousarray(image[:, :, max(0, y - HALO):y + CORE // 2 + HALO, max(0, x - HALO):x + CORE + HALO])
             for y in range(0, HEIGHT, CORE // 2) for x in range(0, WIDTH, CORE)]
    feeds = [{"image": t} for t in tiles]
    sessions = {"arena on": _session(path, True), "arena off (served)": _session(path, False)}
    for session in sessions.values():
        session.run(None, feeds[0])
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            started = time.perf_counter()
            for feed in feeds:
                session.run(None, feed)
            rates[name].append(WIDTH * HEIGHT / 1e6 / (time.perf_counter() - started))
    for name, values in rates.items():
        print(f"{name}: median {statistics.median(values):.3f} MP/s, rounds {[round(v, 3) for v in values]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
