"""Raw ONNX Runtime speed of registry versions, interleaved, on one photo cut into the server's tiles.

    .venv/bin/python -m scripts.version_speed model_registry/umber-oil/6 model_registry/umber-oil/7 \
        [--size 2048x1536] [--rounds 5] [--threads 2] [--tile 512]

Each version's context model runs once on the photo's thumbnail (its manifest's side); then every
round runs each version over all tiles (``--tile`` px cores with the manifest's halo, clipped at the
image edges) in turn, A, B, A, B..., so a change of load hits all of them alike. No server, gRPC or
image border: what the runtime alone costs. Prints one JSON line per version: the seconds of each
round, megapixels per second of the median, and the ratio to the first version's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def load(folder: Path, photo: np.ndarray, threads: int):
    """(painter, context row) of one version folder as trainer.painters serves it, its context computed
    on ``photo``'s thumbnail at the manifest's side."""
    from tessera.imageio import make_thumbnail
    from tessera.pixels import rgb8_to_chw
    from trainer.painters import onnx_painter

    painter = onnx_painter(folder, threads=threads)
    return painter, painter.context(rgb8_to_chw(make_thumbnail(photo, painter.thumbnail_size))[None])


def run_tiles(version, chw: np.ndarray, tile: int) -> None:
    """The runtime on every ``tile`` px core of the 3xHxW image with the version's halo (no border)."""
    from tessera.tiling import Rect, padded_rect

    painter, context = version
    height, width = chw.shape[1:]
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            p = padded_rect(Rect(x, y, min(tile, width - x), min(tile, height - y)), painter.halo, width, height)
            painter.run(chw[None, :, p.y:p.y1, p.x:p.x1], context)


def measure(folders: list[Path], size: str, rounds: int, threads: int, tile: int) -> list[dict]:
    from scripts.style_speed import speed_image
    from tessera.pixels import rgb8_to_chw

    photo = speed_image(0, size)
    chw = rgb8_to_chw(photo)
    versions = {str(f): load(f, photo, threads) for f in folders}
    for version in versions.values():  # warm-up: fresh sessions are slow on their first runs
        run_tiles(version, chw, tile)
        run_tiles(version, chw, tile)
    seconds: dict[str, list[float]] = {name: [] for name in versions}
    for _ in range(rounds):
        for name, version in versions.items():
            start = time.perf_counter()
            run_tiles(version, chw, tile)
            seconds[name].append(time.perf_counter() - start)
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    first = statistics.median(seconds[str(folders[0])])
    return [{"version": name, "halo": versions[name][0].halo, "seconds": [round(s, 3) for s in times],
             "mp_per_s": round(megapixels / statistics.median(times), 2),
             "ratio_to_first": round(first / statistics.median(times), 2)} for name, times in seconds.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", type=Path, nargs="+", help="registry version folders (with manifest.json)")
    parser.add_argument("--size", default="2048x1536", help="WxH of the photo (scikit-image's astronaut, resized)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--tile", type=int, default=512, help="tile core side in px")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.versions if not (f / "manifest.json").is_file()]
    if missing:
        print(f"error: not a registry version folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.tile < 16:
        print("error: --rounds must be at least 1 and --tile at least 16", file=sys.stderr)
        return 2
    for record in measure(args.versions, args.size, args.rounds, args.threads, args.tile):
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
