"""How far apart two registry versions paint the same photo: for a re-export that should change nothing.

    .venv/bin/python -m scripts.version_diff model_registry/vermilion/9 model_registry/vermilion/10 \
        [--photo data/photos/holdout/mate-backgrounds--LadyBird.jpg] [--size 1536x1024 --size 383x239]

The photo is resized to each ``--size`` (W x H; the default sizes include ones whose 512 px thumbnail
has an odd side, as a 3:2 photo's does) and painted whole by both versions as trainer.painters
serves them (thumbnail context, image border; a style-conditioned version paints its first preset).
Prints one JSON line per size: the largest difference in 8-bit levels and the share of values that
differ. Exit code 2 when a version cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from scripts.sizes import parse_size

DEFAULT_PHOTO = Path("data/photos/holdout/mate-backgrounds--LadyBird.jpg")
DEFAULT_SIZES = ("1536x1024", "600x400", "383x239", "1024x640")


def compare(first: Path, second: Path, photo: Image.Image, sizes: list[tuple[int, int]]) -> list[dict]:
    from tessera.tiling import Rect
    from trainer.painters import first_look_painter

    a, b = first_look_painter(first, threads=2), first_look_painter(second, threads=2)
    records = []
    for width, height in sizes:
        pixels = np.asarray(photo.resize((width, height)))
        whole = [Rect(0, 0, width, height)]
        diff = np.abs(a.paint(pixels, whole)[0].astype(int) - b.paint(pixels, whole)[0].astype(int))
        records.append({"size": f"{width}x{height}", "max_levels": int(diff.max()),
                        "share_differing": round(float((diff > 0).mean()), 7)})
    return records


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is WxH, e.g. 600x400, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"a size must be at least 1x1, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", type=Path, nargs=2, help="two registry version folders")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--size", type=_size, action="append", help=f"WxH (default {', '.join(DEFAULT_SIZES)})")
    args = parser.parse_args(argv)
    try:
        photo = Image.open(args.photo).convert("RGB")
        records = compare(*args.versions, photo, args.size or [_size(s) for s in DEFAULT_SIZES])
    except (OSError, KeyError, ValueError) as exc:
        print(f"version_diff: {exc}", file=sys.stderr)
        return 2
    for record in records:
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
