"""`tessera admin status` tells what `tessera styles` tells: the status and its sentence for a style with
no valid version, a pin that cannot serve, an unhealthy version and an invalid style.json (it printed
"serving v0, loaded []", and "serving v18 (pinned)" while v18 served because pinned v10 was gone)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.registry import set_pin
from tests.support import faulty_models
from tests.support.tiny_model import write_tiny_version

TOKEN = "status-test"
UNPROBED_LEVEL = 37  # a flat grey no load probe uses (tests/test_nonfinite_output.py)
pytestmark = pytest.mark.timeout(180)


def _tessera(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tessera.cli", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _lines(stdout: str) -> dict[str, str]:
    """Each style's line, by the style id it starts with."""
    return {line.split()[0]: line for line in stdout.splitlines() if line and not line.startswith(" ")}


def test_admin_status_prints_the_status_sentence_that_styles_prints(tmp_path):
    root = tmp_path / "registry"
    (root / "empty").mkdir(parents=True)
    for seed in (0, 1):
        write_tiny_version(root, "lost-pin", tmp_path, seed=seed)
    set_pin(root / "lost-pin", 1)
    shutil.rmtree(root / "lost-pin" / "1")
    write_tiny_version(root, "bad-meta", tmp_path)
    meta = root / "bad-meta" / "style.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "display_name": "Line1\nLine2\x1b[31mRED"}))
    write_tiny_version(root, "fragile", tmp_path)
    faulty_models.add_version(root, "fragile", faulty_models.nan_on_flat_value(tmp_path / "nan.onnx", UNPROBED_LEVEL))
    with running_server(root, admin_token=TOKEN, poll_interval=60) as address:
        with TesseraClient(address, timeout=30) as client:  # v2 turns unhealthy; the client paints it on v1
            assert client.stylize(np.full((24, 40, 3), UNPROBED_LEVEL, np.uint8), "fragile").version == 1
        styles = _lines(_tessera("styles", "--server", address))
        status = _lines(_tessera("admin", "status", "--server", address, "--token", TOKEN))
    assert set(status) == set(styles) == {"bad-meta", "empty", "fragile", "lost-pin"}
    for style, line in status.items():
        sentence = styles[style][styles[style].index("  ("):]
        assert line.endswith(sentence), (line, styles[style])
    assert "UNAVAILABLE  serving no version, loaded []  (no valid version in the registry)" in status["empty"]
    assert "SERVING      serving v2, loaded [2]  (pinned version 1 cannot serve (it does not exist); serving " \
           "version 2 instead)" in status["lost-pin"]
    assert "(pinned)" not in status["lost-pin"]
    assert "(version 2 is unhealthy: " in status["fragile"] and "serving v1, loaded [1, 2]" in status["fragile"]
    assert "(style.json: display_name: must not hold control characters" in status["bad-meta"]
