"""Unpaired photo -> painting models side by side: figures against each painting set, and a grid.

Runs exported generators (their ONNX files, on whole hold-out photos as ``trainer evaluate`` runs
its generator) and prints, per model and painting folder, ``fid_effnetlite0_to_paintings``, its
ratio to the untouched photos' (the issue's target is <= 0.8), ``content_preservation`` and the
colour spread (below), on the same crops as ``python -m trainer evaluate --crops 256``:

    python -m scripts.unpaired_compare v4=model_registry/wesnoth-painting/4/model.onnx \\
        cut=runs/unpaired/registry/wesnoth-painting/1/model.onnx --grid runs/unpaired/compare.png

**Colour spread** measures the one-colour cast by number: how much the outputs' overall hues differ
from photo to photo (``colour_spread``) over the same for the untouched photos. A model that lays
one colour over every photo drives it towards 0; 1 keeps the photos' variety of overall colour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

from scripts.painting_figure_controls import onnx_outputs
from tessera.pixels import chw_to_rgb8

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "data" / "photos" / "holdout"
PAINTING_SETS = (ROOT / "data" / "paintings" / "wesnoth", ROOT / "data" / "paintings" / "wesnoth-story")
GRID_HEIGHT = 180  # px of one grid cell


def colour_spread(images: list[torch.Tensor]) -> float:
    """How much the images' overall hues differ: std across images of their mean chromaticity.

    ``images`` are CHW RGB in [-1, 1]. Each image's mean colour (0-1 units) as chromaticity
    coordinates r = R / (R + G + B) and g = G / (R + G + B); the std across images of each, averaged
    over the two. Brightness drops out, so a model that lays one hue over every photo scores near 0
    however light or dark the photos are.
    """
    means = torch.stack([((im.double() + 1) / 2).mean(dim=(1, 2)) for im in images])  # [N, 3] RGB
    chroma = means[:, :2] / means.sum(dim=1, keepdim=True).clamp_min(1e-6)
    return float(chroma.std(dim=0, unbiased=False).mean())


def figures(outputs: list[torch.Tensor], photos: list[torch.Tensor], paintings: Path, crops: int) -> dict:
    """The unpaired figures of ``outputs`` against ``paintings``, their ratio and the colour spread ratio."""
    from trainer.evaluate import EvalOptions, unpaired_figures

    opts = EvalOptions(holdout_a=PHOTOS, holdout_b=paintings, crops=crops)
    values, _ = unpaired_figures(paintings, opts, photos, outputs)
    values["ratio"] = values["fid_effnetlite0_to_paintings"] / values["fid_effnetlite0_input_to_paintings"]
    values["colour_spread_ratio"] = colour_spread(outputs) / colour_spread(photos)
    return values


def grid(columns: dict[str, list[torch.Tensor]], path: Path) -> None:
    """One row per photo, one column per entry of ``columns`` (the photos first), saved as PNG."""
    def cell(image: torch.Tensor) -> Image.Image:
        im = Image.fromarray(chw_to_rgb8(image.numpy()))
        return im.resize((round(im.width * GRID_HEIGHT / im.height), GRID_HEIGHT), Image.LANCZOS)

    rows = [[cell(im) for im in images] for images in zip(*columns.values(), strict=True)]
    widths = [max(row[c].width for row in rows) for c in range(len(columns))]
    sheet = Image.new("RGB", (sum(widths) + 4 * len(widths), len(rows) * (GRID_HEIGHT + 4)), "white")
    for r, row in enumerate(rows):
        x = 0
        for c, im in enumerate(row):
            sheet.paste(im, (x, r * (GRID_HEIGHT + 4)))
            x += widths[c] + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def parse_model(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH to an ONNX file, got {text!r}")
    return name, Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=parse_model, help="NAME=path/to/model.onnx")
    parser.add_argument("--crops", type=int, default=256)
    parser.add_argument("--grid", type=Path, help="also write photo | model... rows as this PNG")
    args = parser.parse_args(argv)
    if not PHOTOS.is_dir() or not all(p.is_dir() for p in PAINTING_SETS):
        print("unpaired_compare: run `make data` first (needs data/photos/holdout and data/paintings/*)",
              file=sys.stderr)
        return 2
    from trainer.data import list_images
    from trainer.evaluate import load_rgb, to_chw

    torch.set_num_threads(1)
    photos = [to_chw(load_rgb(p, 512)) for p in list_images(PHOTOS)]
    outputs = {name: onnx_outputs(path, photos) for name, path in args.models}
    print(f"{'model':10s} {'paintings':16s} {'fid':>7s} {'photos':>7s} {'ratio':>6s} {'content':>8s} {'spread':>7s}")
    for name, images in outputs.items():
        for paintings in PAINTING_SETS:
            v = figures(images, photos, paintings, args.crops)
            print(f"{name:10s} {paintings.name:16s} {v['fid_effnetlite0_to_paintings']:7.1f} "
                  f"{v['fid_effnetlite0_input_to_paintings']:7.1f} {v['ratio']:6.3f} "
                  f"{v['content_preservation']:8.3f} {v['colour_spread_ratio']:7.2f}", flush=True)
    if args.grid:
        grid({"photo": photos, **outputs}, args.grid)
        print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
