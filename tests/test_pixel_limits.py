"""The pixel limit a process is configured with is the one that applies: Pillow's own bomb guard
(about 179 MP by default) must not refuse an image below it, in the CLI or the gateway."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bff import close_app
from tessera.imageio import DamagedImageError, ImageTooLargeError, decode_image
from tests.bff.live import closed_port_address, make_app
from tests.bff.pictures import png_declaring
from tests.support import TINY_STYLE

# Headers alone: the size is declared, the data is missing, so past the size check they are damaged.
HEADERS = {
    "example jpeg 19000x10000": (Path(__file__).resolve().parent / "cases" / "header_jpeg_19000x10000.jpg")
    .read_bytes(),
    "png 15000x13000": png_declaring(15_000, 13_000),
    "png 40000x25000": png_declaring(40_000, 25_000),
}


@pytest.mark.parametrize("name", HEADERS)
def test_a_limit_above_pillows_guard_is_honoured(name):
    with pytest.raises(DamagedImageError):
        decode_image(HEADERS[name], max_pixels=1_000_000_000)
    with pytest.raises(ImageTooLargeError, match="the limit is 100 megapixels"):
        decode_image(HEADERS[name], max_pixels=100_000_000)


def stylize(source: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o", str(source) + ".png",
                           "--style", TINY_STYLE, "--server", closed_port_address(), *flags],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", HEADERS)
def test_cli_max_pixels_is_the_limit_that_applies(tmp_path, name):
    source = tmp_path / "big.img"
    source.write_bytes(HEADERS[name])
    high = stylize(source, "--max-pixels", "1000000000")
    assert high.returncode == 1 and "damaged" in high.stderr and "megapixels" not in high.stderr, high.stderr
    low = stylize(source, "--max-pixels", "100000000")
    assert low.returncode == 1 and "the limit is 100 megapixels" in low.stderr, low.stderr


@pytest.mark.parametrize("name", HEADERS)
def test_gateway_max_pixels_is_the_limit_that_applies(name):
    app = make_app(servers=(closed_port_address(),), max_pixels=1_000_000_000)
    try:
        resp = app.test_client().post("/api/stylize", data={"style": TINY_STYLE,
                                                            "image": (io.BytesIO(HEADERS[name]), "big.jpg")})
    finally:
        close_app(app)
    # 422 (damaged), or 503 if the style check came first; never 413 for a size under the limit.
    assert resp.status_code in (422, 503) and resp.json["error"] != "too_many_pixels", resp.json


@pytest.mark.parametrize(("size", "limit", "said"), [
    ((300, 200), 100, "the image is 300×200 (60,000 pixels); the limit is 100 pixels"),
    ((400, 300), 100_000, "the image is 400×300 (0.12 megapixels); the limit is 0.1 megapixels"),
    ((100_001, 1), 100_000, "the image is 100001×1 (100,001 pixels); the limit is 100,000 pixels"),
], ids=["small-limit", "megapixels", "same-in-megapixels"])
def test_a_pixel_limit_is_said_in_the_unit_it_reads_well_in(size, limit, said):
    """Before, --max-pixels 100 was "the image is 300×200 (0.1 megapixels); the limit is 0.0001 megapixels"."""
    png = io.BytesIO()
    Image.new("RGB", size).save(png, "PNG")
    with pytest.raises(ImageTooLargeError) as refused:
        decode_image(png.getvalue(), max_pixels=limit)
    assert str(refused.value) == said
