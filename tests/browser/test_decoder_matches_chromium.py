"""tessera.imageio gives the pixels Chromium shows: the same size (orientation) and the same colours
flattened on white (transparency), for a generated set of files storing orientation and transparency
in every way we know of (tests/support/decoder_cases.py) and the issue's example files."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from tessera.imageio import decode_image
from tests.support.decoder_cases import orientation_cases, transparency_cases

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[1] / "cases"

# Decodes the bytes as an <img> (CSS image-orientation: from-image, the default), then draws it on a
# white canvas at its natural size and reads the pixels back.
CHROMIUM_DECODE_JS = """async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const img = new Image();
    img.src = URL.createObjectURL(new Blob([bytes]));
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(img, 0, 0);
    return [img.naturalWidth, img.naturalHeight,
            Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data)];
}"""

CASES = {**orientation_cases(), **transparency_cases(),
         "example trns_rgb_red_key.png": ((EXAMPLES / "trns_rgb_red_key.png").read_bytes(), False),
         "example xmp_only_orientation6.jpg": ((EXAMPLES / "xmp_only_orientation6.jpg").read_bytes(), True)}


@pytest.fixture(scope="module")
def blank(browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto("about:blank")
    yield page
    context.close()


def chromium_pixels(page, data: bytes) -> np.ndarray:
    width, height, rgba = page.evaluate(CHROMIUM_DECODE_JS, base64.b64encode(data).decode())
    return np.array(rgba, np.uint8).reshape(height, width, 4)[:, :, :3]


@pytest.mark.parametrize("name", CASES)
def test_decoder_shows_what_chromium_shows(blank, name):
    data, lossy = CASES[name]
    expected = chromium_pixels(blank, data).astype(int)
    ours = decode_image(data).astype(int)
    assert ours.shape == expected.shape, f"{name}: Chromium shows {expected.shape[1]}×{expected.shape[0]}"
    difference = np.abs(ours - expected)
    if lossy:  # two JPEG/WebP decoders may round differently, never by a whole quadrant's colour
        assert difference.mean() < 3 and np.percentile(difference, 99) < 24, name
    else:  # 16-bit reduction and premultiplied alpha may round one level apart
        assert difference.max() <= 2, name


def test_the_examples_come_out_as_the_issue_says():
    assert decode_image((EXAMPLES / "xmp_only_orientation6.jpg").read_bytes()).shape[:2] == (48, 96)
    keyed = decode_image((EXAMPLES / "trns_rgb_red_key.png").read_bytes())
    assert not np.all(keyed == (255, 0, 0), axis=2).any()  # no red left: the key is white paper
    assert np.all(keyed == (255, 255, 255), axis=2).any()
