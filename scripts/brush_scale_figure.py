"""docs/brush-scale.jpg: one photo restyled at brush scale 1 and at the default ('auto'), whole (shrunk)
above and a 100% crop below, so the docs show what the default does to a large photo.

`python -m scripts.brush_scale_figure [--style umber-oil] [--photo FILE]`; by default the photo is
mate-backgrounds' Garden.jpg (2560x1600, Debian's mate-backgrounds, GPL-2.0-or-later) when installed,
else scikit-image's astronaut enlarged to 2560x1600.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.serving import newest_registry
from scripts.local_stack import local_server
from tessera.brush_scale import default_scale
from tessera.client import TesseraClient
from tessera.imageio import decode_image

ROOT = Path(__file__).resolve().parents[1]
GARDEN = Path("/usr/share/backgrounds/mate/nature/Garden.jpg")
VIEW_WIDTH = 640
CROP = 320


def load_photo(path: Path | None) -> np.ndarray:
    if path is None and GARDEN.is_file():
        path = GARDEN
    if path is not None:
        return decode_image(path.read_bytes())
    from skimage import data as skdata

    return np.asarray(Image.fromarray(skdata.astronaut()).resize((2560, 1600), Image.Resampling.BICUBIC))


def figure(photo: np.ndarray, results: dict[str, np.ndarray]) -> Image.Image:
    """Columns: the photo, then each result; rows: whole (shrunk) and a central 100% crop."""
    height, width = photo.shape[:2]
    view = (VIEW_WIDTH, round(VIEW_WIDTH * height / width))
    top, left = (height - CROP) // 2, (width - CROP) // 2
    columns = {"photo": photo, **results}
    sheet = Image.new("RGB", (len(columns) * VIEW_WIDTH, view[1] + CROP * 2 + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, pixels) in enumerate(columns.items()):
        image = Image.fromarray(pixels)
        sheet.paste(image.resize(view, Image.Resampling.BOX), (index * VIEW_WIDTH, 0))
        crop = image.crop((left, top, left + CROP, top + CROP)).resize((CROP * 2, CROP * 2), Image.Resampling.NEAREST)
        sheet.paste(crop, (index * VIEW_WIDTH, view[1]))
        draw.text((index * VIEW_WIDTH + 8, view[1] + CROP * 2 + 6), label, fill="black")
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--style", default="umber-oil")
    parser.add_argument("--photo", type=Path)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "brush-scale.jpg")
    args = parser.parse_args(argv)
    photo = load_photo(args.photo)
    height, width = photo.shape[:2]
    auto = default_scale(width, height)
    with tempfile.TemporaryDirectory() as tmp:
        registry = newest_registry(Path(tmp) / "registry", (args.style,))
        with local_server(registry) as address, TesseraClient(address, timeout=1800) as client:
            results = {f"{args.style}, scale 1 ({width}x{height})": client.stylize(photo, args.style).image,
                       f"{args.style}, scale auto = {auto:.2f}": client.stylize(photo, args.style, scale=auto).image}
    figure(photo, results).save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
