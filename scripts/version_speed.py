"""Raw ONNX Runtime speed of registry versions, interleaved, on one photo cut into the server's tiles.

    .venv/bin/python -m scripts.version_speed model_registry/umber-oil/6 model_registry/umber-oil/7 \
        [--size 2048x1536] [--rounds 5] [--arrangement 1x2 --arrangement 2x1] [--tile 512]

A folder written FOLDER@fp32-openvino runs its tiles on OpenVINO fp32 instead (any-painting-best's
integer form, docs/serving.md "The integer form in the repository").

Each version's context model runs once on the photo's thumbnail (its manifest's side); then every
round runs each version, in each arrangement, over all tiles (``--tile`` px cores with the
manifest's halo, clipped at the image edges) in turn, A, B, A, B..., so a change of load hits all
of them alike; a style-conditioned version paints its first preset. An arrangement RxT runs the
tiles on R threads at once, each call with T intra-op threads, on one session, as the server's
batcher runners do (default 1x2: one two-thread call at a time). No server, gRPC or image border:
what the runtime alone costs. Prints one JSON line per version and arrangement: the seconds of each
round, megapixels per second of the median, and the ratio to the first line's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def load(folder: Path, photo: np.ndarray, threads: int, precision: str = "fp32", streams: int = 1):
    """(painter, context row) of one version folder as trainer.painters serves it, its context computed
    on ``photo``'s thumbnail at the manifest's side. A style-conditioned version paints its first
    preset's look. With ``precision`` "fp32-openvino" the tiles run on OpenVINO fp32 with ``streams``
    streams of ``threads`` threads (the server's runners), the context on ONNX Runtime, as served."""
    import dataclasses

    from tessera.imageio import make_thumbnail
    from tessera.pixels import rgb8_to_chw
    from tessera.registry import read_manifest
    from trainer.painters import first_look_painter

    painter = first_look_painter(folder, threads=threads)
    if precision != "fp32":
        from inference_server.runtime.openvino_runtime import OpenVinoRuntime

        runtime = OpenVinoRuntime(folder / read_manifest(folder).onnx.file, threads=threads, streams=streams,
                                  precision=precision)
        painter = dataclasses.replace(painter, run=lambda batch, context: runtime.execute(
            batch.astype(np.float32), None if context is None else np.repeat(context, len(batch), axis=0)))
    return painter, painter.context(rgb8_to_chw(make_thumbnail(photo, painter.thumbnail_size))[None])


def run_tiles(version, chw: np.ndarray, tile: int, pool: ThreadPoolExecutor | None = None) -> None:
    """The runtime on every ``tile`` px core of the 3xHxW image with the version's halo (no border),
    one call at a time, or on ``pool``'s threads at once."""
    from tessera.tiling import Rect, padded_rect

    painter, context = version
    height, width = chw.shape[1:]
    calls = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            p = padded_rect(Rect(x, y, min(tile, width - x), min(tile, height - y)), painter.halo, width, height)
            calls.append(chw[None, :, p.y:p.y1, p.x:p.x1])
    if pool is None:
        for pixels in calls:
            painter.run(pixels, context)
    else:
        list(pool.map(lambda pixels: painter.run(pixels, context), calls))


def parse_arrangement(text: str) -> tuple[int, int]:
    """"RxT" -> (runners, threads per call), both at least 1; ValueError otherwise."""
    runners, _, threads = text.lower().partition("x")
    if not (runners.isdigit() and threads.isdigit() and int(runners) >= 1 and int(threads) >= 1):
        raise ValueError(f"an arrangement is RUNNERSxTHREADS, e.g. 2x1, got {text!r}")
    return int(runners), int(threads)


def measure(folders: list[Path], size: str, rounds: int, arrangements: list[tuple[int, int]],
            tile: int) -> list[dict]:
    from scripts.style_speed import speed_image
    from tessera.pixels import rgb8_to_chw

    photo = speed_image(0, size)
    chw = rgb8_to_chw(photo)
    paths = {}
    for spec in folders:
        folder, _, precision = str(spec).partition("@")
        for runners, threads in arrangements:
            pool = ThreadPoolExecutor(runners) if runners > 1 else None
            paths[(str(spec), f"{runners}x{threads}")] = (load(Path(folder), photo, threads, precision or "fp32",
                                                               runners), pool)
    for version, pool in paths.values():  # warm-up: fresh sessions are slow on their first runs
        run_tiles(version, chw, tile, pool)
        run_tiles(version, chw, tile, pool)
    seconds: dict[tuple[str, str], list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (version, pool) in paths.items():
            start = time.perf_counter()
            run_tiles(version, chw, tile, pool)
            seconds[name].append(time.perf_counter() - start)
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    first = statistics.median(next(iter(seconds.values())))
    return [{"version": name[0], "arrangement": name[1], "halo": paths[name][0][0].halo,
             "seconds": [round(s, 3) for s in times],
             "mp_per_s": round(megapixels / statistics.median(times), 2),
             "ratio_to_first": round(first / statistics.median(times), 2)} for name, times in seconds.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", type=Path, nargs="+",
                        help="registry version folders (with manifest.json), each FOLDER or FOLDER@PRECISION "
                             "(fp32-openvino: the tiles on OpenVINO fp32, as --cpu-engine auto serves them)")
    parser.add_argument("--size", default="2048x1536", help="WxH of the photo (scikit-image's astronaut, resized)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--arrangement", action="append", metavar="RxT",
                        help="R calls at once with T intra-op threads each (repeatable; default 1x2)")
    parser.add_argument("--tile", type=int, default=512, help="tile core side in px")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.versions if not (Path(str(f).partition("@")[0]) / "manifest.json").is_file()]
    if missing:
        print(f"error: not a registry version folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.tile < 16:
        print("error: --rounds must be at least 1 and --tile at least 16", file=sys.stderr)
        return 2
    try:
        arrangements = [parse_arrangement(a) for a in args.arrangement or ["1x2"]]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for record in measure(args.versions, args.size, args.rounds, arrangements, args.tile):
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
