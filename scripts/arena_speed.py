"""Speed of ONNX Runtime without a CPU arena (served), with an arena per session, and with one arena
shared by all sessions, interleaved in one process.

    python -m scripts.arena_speed [--style wesnoth-painting] [--rounds 3]

Three sessions of a shipped style's newest version, identical but for where their buffers come from:
plain malloc (no arena: tessera/onnx_session.py, what Tessera serves), an arena of their own (ONNX
Runtime's default), or one arena every such session shares (`use_shared_arena`, the candidate).
Each runs on the 1024 px tiles (48 px halo) that cover a 2048x1536 photo-like image, in turn, round
after round. Per round it prints MP per
second of wall time, MP per CPU-second of this process (steadier on a shared machine) and the minor
page faults the round caused (memory faulted in afresh).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

from scripts.local_stack import ROOT
from scripts.server_memory import sample_image
from tessera.onnx_session import CPU, session_options, use_shared_arena
from tessera.pixels import rgb8_to_nchw
from tessera.registry import version_dirs

WIDTH, HEIGHT, CORE, HALO = 2048, 1536, 1024, 48


def _session(path, arena: str) -> ort.InferenceSession:
    options = session_options(2)
    if arena == "shared":
        use_shared_arena(options)
    options.enable_cpu_mem_arena = arena != "none"
    return ort.InferenceSession(str(path), options, providers=CPU)


def _round(session: ort.InferenceSession, feeds: list[dict]) -> tuple[float, float, int]:
    """(MP/s wall, MP per CPU-second, minor page faults) of one pass over the tiles."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter(), time.process_time()
    for feed in feeds:
        session.run(None, feed)
    megapixels = WIDTH * HEIGHT / 1e6
    return (megapixels / (time.perf_counter() - wall), megapixels / (time.process_time() - cpu),
            resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)


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
    sessions = {"no arena (served)": _session(path, "none"), "arena per session": _session(path, "own"),
                "shared arena": _session(path, "shared")}
    for session in sessions.values():
        session.run(None, feeds[0])
    rounds: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            rounds[name].append(_round(session, feeds))
    for name, values in rounds.items():
        wall, cpu, faults = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"{name}: median {wall:.3f} MP/s wall, {cpu:.3f} MP per CPU-second, {faults:,.0f} page faults "
              f"per round; rounds (wall) {[round(v[0], 3) for v in values]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
