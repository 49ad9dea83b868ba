"""Speed of ONNX Runtime without a CPU arena, with an arena per session, and with one arena shared by
all sessions (served), interleaved in one process.

    python -m scripts.arena_speed [--style wesnoth-painting] [--rounds 3]

Three sessions of a shipped style's newest version, identical but for where their buffers come from:
plain malloc (no arena), an arena of their own (ONNX Runtime's default), or one arena every such
session shares (`use_shared_arena`, what tessera/onnx_session.py gives every session). Each runs on
the 1024 px tiles (with the version's halo, and the context the server would compute for versions
that have one) that cover a 2048x1536 photo-like image, in turn, round
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

from inference_server.conditioned_version import is_conditioned, probe_code
from inference_server.runtime.onnx_runtime import OnnxRuntime
from inference_server.version_checks import context_row
from scripts.local_stack import ROOT
from scripts.server_memory import sample_image
from tessera.onnx_session import CPU, session_options
from tessera.pixels import rgb8_to_nchw
from tessera.registry import CONTEXT_INPUT, CONTEXT_OUTPUT, INPUT_NAME, read_manifest, version_dirs

WIDTH, HEIGHT, CORE = 2048, 1536, 1024


def _session(path, arena: str) -> ort.InferenceSession:
    options = session_options(2, shared_arena=arena == "shared")
    options.enable_cpu_mem_arena = arena != "none"
    return ort.InferenceSession(str(path), options, providers=CPU)


def _context(version_dir, manifest, photo: np.ndarray) -> np.ndarray | None:
    """The [1, K] context the server feeds every tile of `photo` (None for context-free versions)."""
    if manifest.context_onnx is None:
        return None
    model = OnnxRuntime(version_dir / manifest.context_onnx.file, threads=2, output=CONTEXT_OUTPUT)
    code = probe_code(manifest) if is_conditioned(manifest) else None
    return context_row(model, photo, manifest.tiling, code)[None]


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
    version_dir = versions[max(versions)]
    manifest = read_manifest(version_dir)
    path, halo = version_dir / manifest.onnx.file, manifest.tiling.halo
    photo = sample_image(WIDTH, HEIGHT)
    image, context = rgb8_to_nchw(photo), _context(version_dir, manifest, photo)
    tiles = [np.ascontiguousarray(image[:, :, max(0, y - halo):y + CORE // 2 + halo, max(0, x - halo):x + CORE + halo])
             for y in range(0, HEIGHT, CORE // 2) for x in range(0, WIDTH, CORE)]
    feeds = [{INPUT_NAME: t} | ({} if context is None else {CONTEXT_INPUT: context}) for t in tiles]
    sessions = {"no arena": _session(path, "none"), "arena per session": _session(path, "own"),
                "shared arena (served)": _session(path, "shared")}
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
