"""An image border (manifest tiling.border) is added by the server at the image's edges only.

The shipped students newest versions carry the border in their manifests (the graph has none);
the version before each carries it in its graph, so it pays for it around every tile. Both must give
the same pixels, and the newest must hand the runtime no more than core + halo + border at image edges.
"""

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from inference_server.engine import ImageJob, ImageSpec
from inference_server.model_version import LoadSettings, load_version
from tessera.canvas import Canvas
from tessera.registry import read_manifest
from tessera.tiling import Border, Rect, extend, image_border, plan_tiles, remove_border

STUDENT = Path(__file__).resolve().parents[1] / "model_registry" / "blue-ink"
GRAPH_BORDER, MANIFEST_BORDER = 4, 5  # blue-ink versions: border inside the graph, border in the manifest


def test_a_border_goes_on_the_sides_of_a_region_on_the_image_edge():
    assert image_border(Rect(0, 0, 50, 30), 100, 80, 8) == Border(top=8, bottom=0, left=8, right=0)
    assert image_border(Rect(10, 10, 50, 30), 100, 80, 8) == Border()  # inside: the halo holds real pixels
    assert image_border(Rect(60, 50, 40, 30), 100, 80, 8) == Border(top=0, bottom=8, left=0, right=8)
    assert image_border(Rect(0, 0, 100, 80), 100, 80, 8) == Border(8, 8, 8, 8)  # a whole image
    assert not Border() and Border(right=1)
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    grown = extend(pixels, Border(top=1, left=2))
    assert grown.shape == (3, 5, 3) and np.array_equal(grown[0, 0], pixels[0, 0])  # edge replication
    assert np.array_equal(grown[1:, 2:], pixels) and extend(pixels, Border()) is pixels
    chw = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    assert np.array_equal(remove_border(extend(chw, Border(1, 2, 3, 4), channels_first=True),
                                        Border(1, 2, 3, 4), 4, 5), chw)


@pytest.fixture(scope="module")
def versions():
    loaded = {n: load_version(STUDENT / str(n), LoadSettings(threads=1))
              for n in (GRAPH_BORDER, MANIFEST_BORDER)}
    yield loaded
    for version in loaded.values():
        version.retire()


def _tiled(version, photo: np.ndarray, tile: int, shapes: list | None = None) -> np.ndarray:
    height, width = photo.shape[:2]
    if shapes is not None:
        execute = version.runtime.execute
        version.runtime.execute = lambda image, *a, **k: shapes.append(image.shape[2:]) or execute(image, *a, **k)
    try:
        job = ImageJob(version, ImageSpec(width=width, height=height, thumbnail=photo))
        canvas = Canvas(width, height, "crop")
        for core in plan_tiles(width, height, tile):
            region = job.stylize(core, photo[job.padded(core).slices()]).result(timeout=60)
            canvas.add(region.rect, region.rgb.tobytes(), core)
        return canvas.image()
    finally:
        if shapes is not None:
            version.runtime.execute = execute


def test_the_border_in_the_manifest_gives_the_graphs_pixels_with_less_work(versions):
    assert read_manifest(STUDENT / str(MANIFEST_BORDER)).tiling.border == 40
    assert read_manifest(STUDENT / str(GRAPH_BORDER)).tiling.border == 0
    photo = data.astronaut()[::2, ::2][:192]  # 256x192: its sides are multiples of the stride
    reference = _tiled(versions[GRAPH_BORDER], photo, 256)  # one tile: the whole image
    shapes: list = []
    tiled = _tiled(versions[MANIFEST_BORDER], photo, 64, shapes)
    assert np.array_equal(tiled, reference)
    # Every 64 px core reaches the runtime with 40 px on each side: halo inside, border at the edges.
    assert shapes and set(shapes) == {(144, 144)}
