"""An image that the chosen output format cannot hold is refused before any work, naming the format's
limit and suggesting PNG: in the gateway (400), unary Stylize (INVALID_ARGUMENT) and the CLI; and the
server counts each refusal under its real status code."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from bff import close_app
from scripts.local_stack import server_process
from tessera import formats
from tessera.imageio import ImageTooLargeForFormatError, decode_image, encode_image
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.bff.live import closed_port_address, make_app
from tests.support import TINY_STYLE
from tests.support.decoder_cases import EXIF, app1, jpeg, oriented
from tests.support.metrics import counter_total

EXAMPLE = (Path(__file__).resolve().parent / "cases" / "long_screenshot_64x16400.jpg").read_bytes()


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# (input file, output format, the limit the refusal must name)
TOO_LARGE = {
    "example 64x16400 jpeg -> webp": (EXAMPLE, "webp", "16383"),
    "16384x8 png -> webp": (png_of(16_384, 8), "webp", "16383"),
    "8x65501 png -> jpeg": (png_of(8, 65_501), "jpeg", "65500"),
    # Stored 16400 wide and 8 high, shown (EXIF 6) 8 wide and 16400 high: still one side too long.
    "turned 16400x8 jpeg -> webp": (jpeg([app1(EXIF + oriented(6))], pixels=np.zeros((8, 16_400, 3), np.uint8)),
                                    "webp", "16383"),
}


@pytest.mark.parametrize("fmt", [name for name in formats.NAMES if formats.get(name).max_side])
def test_each_limit_in_the_table_is_the_encoders_own(fmt):
    spec = formats.get(fmt)
    Image.new("RGB", (spec.max_side, 1)).save(io.BytesIO(), spec.pillow_name)
    with pytest.raises((OSError, ValueError)):
        Image.new("RGB", (spec.max_side + 1, 1)).save(io.BytesIO(), spec.pillow_name)


@pytest.mark.parametrize("name", TOO_LARGE)
def test_the_decoder_refuses_from_the_header(name):
    data, fmt, limit = TOO_LARGE[name]
    with pytest.raises(ImageTooLargeForFormatError, match=f"{limit} px per side; choose PNG"):
        decode_image(data, output_format=fmt)
    assert decode_image(data, output_format="png").shape[0] >= 8  # PNG holds it


def test_encoding_refuses_clearly_too():
    with pytest.raises(ValueError, match="16383 px per side"):
        encode_image(np.zeros((16_384, 2, 3), np.uint8), "webp")


@pytest.fixture(scope="module")
def metered_server(tiny_registry):
    with server_process(tiny_registry, metrics_port=0) as (_, address, log_path):
        yield address, log_path


@pytest.mark.parametrize("name", TOO_LARGE)
def test_unary_stylize_refuses_before_work_and_counts_invalid_argument(metered_server, name):
    address, log_path = metered_server
    data, fmt, limit = TOO_LARGE[name]
    before = counter_total(log_path, "tessera_requests_total", method="Stylize", code="INVALID_ARGUMENT")
    tiles_before = counter_total(log_path, "tessera_tiles_total")
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as err:
            pb_grpc.StyleTransferStub(channel).Stylize(
                pb.StylizeRequest(style=TINY_STYLE, image=data, output_format=fmt), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert limit in err.value.details() and "PNG" in err.value.details()
    assert counter_total(log_path, "tessera_requests_total", method="Stylize", code="INVALID_ARGUMENT") == before + 1
    assert counter_total(log_path, "tessera_requests_total", method="Stylize", code="OK") == 0
    assert counter_total(log_path, "tessera_tiles_total") == tiles_before


@pytest.mark.parametrize("name", TOO_LARGE)
def test_the_gateway_answers_400_before_asking_a_server(name):
    data, fmt, limit = TOO_LARGE[name]
    app = make_app(servers=(closed_port_address(),))  # a call to a server would fail otherwise
    try:
        resp = app.test_client().post("/api/stylize", data={
            "style": TINY_STYLE, "format": fmt, "image": (io.BytesIO(data), "long.png")})
    finally:
        close_app(app)
    assert resp.status_code == 400
    assert resp.json["error"] == "too_large_for_format"
    assert limit in resp.json["message"] and "PNG" in resp.json["message"]


@pytest.mark.parametrize("name", TOO_LARGE)
def test_the_cli_refuses_before_contacting_the_server(tmp_path, name):
    data, fmt, limit = TOO_LARGE[name]
    source = tmp_path / "long.img"
    source.write_bytes(data)
    out = tmp_path / f"out.{formats.get(fmt).extension}"
    result = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o", str(out),
                             "--style", TINY_STYLE, "--server", closed_port_address()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"{limit} px per side; choose PNG" in result.stderr and "unavailable" not in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
