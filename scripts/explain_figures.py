"""What the critic sees, for docs/explain.md: both maps of every shipped style that has a critic.

Two hold-out photos (scikit-image's coffee and rocket: CC0 and public domain) are written small into
docs/explain/, then each goes through the real inference server (started here on loopback on the
registry's newest versions) with explain, tiled as in production. One JPEG per style: for each photo,
the photo | the result | the realism map over the result | Grad-CAM over the result. Mean realism
figures are printed, for the text.

    python -m scripts.explain_figures              # model_registry -> docs/explain/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PHOTOS = {"coffee": "coffee", "rocket": "rocket"}  # file stem -> skimage.data function
LONGEST = 384  # the committed photos' longest side
OVERLAY = 0.6  # opacity of a map over the result, as the page's default
GAP = 6
LABEL = 18


def holdout_photos(out: Path) -> dict[str, np.ndarray]:
    """The two hold-out photos, written as small JPEGs into ``out`` (committed) and returned as read back."""
    from skimage import data

    photos = {}
    for stem, name in PHOTOS.items():
        path = out / f"{stem}.jpg"
        if not path.exists():
            image = Image.fromarray(getattr(data, name)())
            image.thumbnail((LONGEST, LONGEST), Image.LANCZOS)
            image.save(path, quality=90)
        with Image.open(path) as im:
            photos[stem] = np.asarray(im.convert("RGB"))
    return photos


def over(result: np.ndarray, heat: np.ndarray) -> np.ndarray:
    return (result * (1 - OVERLAY) + heat * OVERLAY).round().astype(np.uint8)


def figure(rows: list[list[np.ndarray]], titles: list[str]) -> Image.Image:
    height = max(sum(r[0].shape[0] for r in rows) + GAP * (len(rows) - 1), 1) + LABEL
    width = sum(c.shape[1] for c in rows[0]) + GAP * (len(rows[0]) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for title, cell in zip(titles, rows[0], strict=True):
        draw.text((x + 4, 3), title, fill=(40, 40, 40))
        x += cell.shape[1] + GAP
    y = LABEL
    for row in rows:
        x = 0
        for cell in row:
            canvas.paste(Image.fromarray(cell), (x, y))
            x += cell.shape[1] + GAP
        y += row[0].shape[0] + GAP
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=Path("model_registry"))
    parser.add_argument("--out", type=Path, default=Path("docs/explain"))
    args = parser.parse_args(argv)
    from scripts.local_stack import running_server
    from tessera.client import TesseraClient

    args.out.mkdir(parents=True, exist_ok=True)
    photos = holdout_photos(args.out)
    with running_server(args.registry, timeout=300, warmup_runs=0) as address, \
            TesseraClient(address, timeout=300) as client:
        styles = [s for s in client.list_styles(include_previews=False) if s.has_critic]
        for style in styles:
            rows = []
            for stem, photo in photos.items():
                result = client.stylize(photo, style.id, explain=True)
                h, w = photo.shape[:2]
                maps = result.maps
                rows.append([photo, result.image, over(result.image, maps.heat_map("realism", w, h)),
                             over(result.image, maps.heat_map("gradcam", w, h))])
                real = maps.strength("realism")
                print(f"{style.id} v{result.version} {stem}: mean P(real) {real.mean():.3f}, "
                      f"share of patches taken for real (P > 0.5) {(real > 0.5).mean():.3f}, "
                      f"origin {maps.origin}")
            path = args.out / f"{style.id}.jpg"
            figure(rows, ["photo", f"{style.display_name} v{result.version}", "realism map", "Grad-CAM"]).save(
                path, quality=88)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
