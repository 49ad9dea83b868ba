"""A client generated from proto/ by another language's tooling (Node's @grpc/grpc-js with
@grpc/proto-loader) calls ListStyles and StylizeTiles and gets correct tiles back."""

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference

HERE = Path(__file__).parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="Node.js and npm are not installed")


@pytest.fixture(scope="module")
def node_modules():
    if not (HERE / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                       capture_output=True)
    return HERE / "node_modules"


def test_node_client_lists_styles_and_gets_correct_tiles(inference_server, node_modules):
    image = np.random.default_rng(4).integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
    run = subprocess.run(["node", "node_client.mjs", inference_server, TINY_STYLE, "40", "24"], cwd=HERE,
                         input=image.tobytes(), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    reply = json.loads(run.stdout)
    assert reply["styles"] == [TINY_STYLE] and reply["version"] == 1
    (tile,) = reply["results"]
    assert (tile["index"], tile["width"], tile["height"]) == (7, 40, 24)
    pixels = np.frombuffer(base64.b64decode(tile["rgb"]), dtype=np.uint8).reshape(24, 40, 3)
    assert_same_up_to_rounding(pixels, whole_image_reference(TinyGenerator(0), image))
