"""Before/after grids of the shipped styles on hold-out photos, for docs/styles.md.

Each photo goes through the real inference server (started here on loopback, on the registry's
newest valid versions) and the client library, tiled exactly as in production, so a grid shows
tile seams if there are any. One JPEG per style: originals on the top row, results below.

By default only hold-out photos whose licence allows committing them (not GPL, not CC-BY-SA:
in practice the scikit-image photos) are used, and the grids go to docs/styles/. ``--all-holdout``
adds the GPL wallpapers too; write those grids outside the repository (``--out runs/grids``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COPYLEFT = ("GPL", "CC-BY-SA", "LGPL")
CELL_HEIGHT = 256
GAP = 6
LABEL = 18


def committable(entry: dict) -> bool:
    """True when the image's licence puts no copyleft terms on grids made from it."""
    return not any(entry["license"].startswith(prefix) for prefix in COPYLEFT)


def grid_photos(data_dir: Path, all_holdout: bool = False) -> list[Path]:
    """The hold-out photos to show, in manifest order; committable ones only unless ``all_holdout``."""
    manifest = data_dir / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing; run `make data` first")
    entries = json.loads(manifest.read_text())["images"]
    return [data_dir / e["path"] for e in entries
            if e["split"] == "holdout" and (all_holdout or committable(e))]


def load_photo(path: Path, longest: int) -> np.ndarray:
    """The photo as HxWx3 uint8, downscaled so its longest side is at most ``longest``."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((longest, longest), Image.LANCZOS)
        return np.asarray(im)


def make_grid(pairs: list[tuple[np.ndarray, np.ndarray]], title: str, cell_height: int = CELL_HEIGHT) -> Image.Image:
    """A two-row grid: each ``before`` above its ``after``, scaled to ``cell_height``, with a title line."""
    cells = []
    for before, after in pairs:
        scale = cell_height / before.shape[0]
        size = (round(before.shape[1] * scale), cell_height)
        cells.append([Image.fromarray(x).resize(size, Image.LANCZOS) for x in (before, after)])
    width = sum(c[0].width for c in cells) + GAP * (len(cells) + 1)
    grid = Image.new("RGB", (width, LABEL + 2 * cell_height + 3 * GAP), "white")
    ImageDraw.Draw(grid).text((GAP, 3), title, fill="black")
    x = GAP
    for before, after in cells:
        grid.paste(before, (x, LABEL + GAP))
        grid.paste(after, (x, LABEL + cell_height + 2 * GAP))
        x += before.width + GAP
    return grid


def stylize_all(address: str, style: str, photos: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Each photo through the server's tiled streaming path; returns the results and the version used."""
    from tessera.client import TesseraClient

    with TesseraClient(address, timeout=300.0) as client:
        results = [client.stylize(photo, style) for photo in photos]
    return [r.image for r in results], results[0].version


def serving_styles(address: str) -> list[str]:
    """Ids of the styles the server has a valid version for."""
    from tessera.client import TesseraClient

    with TesseraClient(address) as client:
        return [s.id for s in client.list_styles() if s.serving_version]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=Path("model_registry"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path("docs/styles"))
    parser.add_argument("--style", action="append", help="style id (repeatable); default every serving style")
    parser.add_argument("--longest", type=int, default=640, help="photos are served at most this size")
    parser.add_argument("--all-holdout", action="store_true", help="include GPL hold-out photos (not for docs/)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)

    from scripts.local_stack import local_server

    try:
        paths = grid_photos(args.data_dir, args.all_holdout)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    photos = [load_photo(p, args.longest) for p in paths]
    args.out.mkdir(parents=True, exist_ok=True)
    with local_server(args.registry, args.threads) as address:
        for style in args.style or serving_styles(address):
            results, version = stylize_all(address, style, photos)
            grid = make_grid(list(zip(photos, results, strict=True)),
                             f"{style} v{version}: hold-out photos (top) and the served result (bottom)")
            path = args.out / f"{style}.jpg"
            grid.save(path, quality=78, optimize=True)
            print(f"wrote {path} ({path.stat().st_size // 1024} KB, version {version})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
