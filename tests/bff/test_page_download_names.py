"""frontend_static/photo_names.js downloadName and brushes.js brushOf, run by Node: every download is named
from what made it, and a result kept by an older page (no brush recorded) is named as painted at the
default brush, not "brush-NaNx"."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from scripts.local_stack import ROOT

PAGE = ROOT / "frontend_static"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's modules")

BASE = {"filename": "coffee-any-painting.png", "madeAt": 1, "scale": "auto", "keepColors": False}


@pytest.mark.parametrize("result, strength, name", [
    ({**BASE, "preset": "mosaic", "look": {}}, None, "coffee-any-painting-mosaic.png"),
    ({**BASE, "preset": "retina", "look": {}}, 0.7, "coffee-any-painting-retina-strength-70.png"),
    ({**BASE, "preset": None, "look": {"painting": "art.png", "mixWith": "marbling", "mix": 0.4},
      "keepColors": True}, None, "coffee-any-painting-painting-with-marbling-40-own-colours.png"),
    ({**BASE, "filename": "chelsea-blue-ink.jpg", "scale": "0.5"}, 0.4, "chelsea-blue-ink-strength-40-brush-2x.jpg"),
    ({**BASE, "filename": "chelsea-blue-ink.jpg", "scale": "1"}, None, "chelsea-blue-ink-brush-finest.jpg"),
    # kept by a page that recorded no brush: the default's, unsaid
    ({k: v for k, v in BASE.items() if k != "scale"} | {"filename": "chelsea-blue-ink.jpg"}, None,
     "chelsea-blue-ink.jpg"),
])
def test_a_download_is_named_from_what_made_it(result, strength, name):
    script = (f"const {{ downloadName }} = await import({json.dumps(str(PAGE / 'photo_names.js'))});\n"
              f"const result = {json.dumps(result)};\n"
              f"console.log({'downloadName(result)' if strength is None else f'downloadName(result, {strength})'});\n")
    ran = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == name
