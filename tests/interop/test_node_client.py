"""A client generated from proto/ by another language's tooling (Node's @grpc/grpc-js with
@grpc/proto-loader) calls ListStyles and StylizeTiles, cuts a grid of tiles with halos itself, and
gets tiles back that assemble into the correct image. `make install` installs Node.js and npm."""

import base64
import fcntl
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tessera.canvas import Canvas
from tessera.tiling import Rect
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference

HERE = Path(__file__).parent


def ensure_node_modules() -> Path:
    """tests/interop/node_modules, installed from package-lock.json when missing.

    Two test files ask for it, and `make test` runs files on two workers at once: `npm ci` begins by
    deleting node_modules, so a second one would pull the modules from under the first's node client.
    The workers take turns on a lock of package-lock.json; the second finds the modules there."""
    with open(HERE / "package-lock.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (HERE / "node_modules" / "@grpc" / "grpc-js").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                           capture_output=True)
    return HERE / "node_modules"


@pytest.fixture(scope="module")
def node_modules():
    return ensure_node_modules()


def test_node_client_lists_styles_and_its_tiles_assemble_the_right_image(inference_server, node_modules):
    height, width, tile = 70, 100, 32
    image = np.random.default_rng(4).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    run = subprocess.run(["node", "node_client.mjs", inference_server, TINY_STYLE, str(width), str(height), str(tile)],
                         cwd=HERE, input=image.tobytes(), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    reply = json.loads(run.stdout)
    assert reply["styles"] == [TINY_STYLE] and reply["version"] == 1 and reply["halo"] == 16
    assert sorted(r["index"] for r in reply["results"]) == list(range(12))  # a 4 x 3 grid
    canvas = Canvas(width, height, "crop")
    for r in reply["results"]:
        core = Rect(r["x"], r["y"], r["width"], r["height"])
        canvas.add(core, base64.b64decode(r["rgb"]), core)
    assert_same_up_to_rounding(canvas.image(), whole_image_reference(TinyGenerator(0), image))


def test_node_client_asks_for_a_brush_scale_in_the_header(inference_server, node_modules):
    from tests.test_brush_scale_e2e import PHOTO, assert_seam_free, reference

    height, width = PHOTO.shape[:2]
    run = subprocess.run(["node", "node_client.mjs", inference_server, TINY_STYLE, str(width), str(height), "64",
                          "scale=0.4"], cwd=HERE, input=PHOTO.tobytes(), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    reply = json.loads(run.stdout)
    assert reply["scale"] == pytest.approx(0.4) and reply["halo"] > 16 / 0.4
    canvas = Canvas(width, height, "crop")
    for r in reply["results"]:
        core = Rect(r["x"], r["y"], r["width"], r["height"])
        canvas.add(core, base64.b64decode(r["rgb"]), core)
    assert_seam_free(canvas.image(), reference(PHOTO, 0.4))
