"""Models that give NaN on some inputs only: rejected at load when a probe finds it, and otherwise
caught on the served tile, which fails its call, counts in the metrics and marks the version unhealthy."""

from __future__ import annotations

import io
import subprocess
import sys

import grpc
import numpy as np
import pytest
from PIL import Image

from inference_server.model_version import LoadSettings, VersionRejected, load_version
from inference_server.runtime.onnx_runtime import OnnxRuntime
from scripts.local_stack import ROOT, server_process
from tessera.admin_client import AdminClient
from tessera.client import TesseraClient, TesseraError
from tessera.unhealthy_trailer import TRAILER
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import faulty_models
from tests.support.metrics import counter_total
from tests.support.tiny_model import write_tiny_version

STYLE = "fragile"
TOKEN = "nonfinite-test"
UNPROBED_LEVEL = 37  # a flat grey no load probe uses
pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize(("build", "probe"), [
    (faulty_models.per_tile_normalisation, "flat 0"),
    (faulty_models.nan_at_white, "flat 255"),
])
def test_models_finite_on_noise_but_not_on_flat_or_extreme_tiles_are_rejected_at_load(tmp_path, build, probe):
    model = build(tmp_path / "model.onnx")
    noise = np.random.default_rng(0).uniform(-0.99, 0.99, (1, 3, 96, 96)).astype(np.float32)
    assert np.isfinite(OnnxRuntime(model, threads=1).execute(noise)).all()  # the old single probe passed it
    number = faulty_models.add_version(tmp_path / "registry", STYLE, model)
    with pytest.raises(VersionRejected) as rejected:
        load_version(tmp_path / "registry" / STYLE / str(number), LoadSettings(threads=1))
    assert rejected.value.kind == "probe"
    assert f"probe tile '{probe}'" in str(rejected.value) and "non-finite output" in str(rejected.value)


def _flat_image(level: int, width: int = 40, height: int = 24) -> np.ndarray:
    return np.full((height, width, 3), level, np.uint8)


def _photo(width: int = 40, height: int = 24) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def registry_with_good_then_fragile(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    faulty_models.add_version(root, STYLE, faulty_models.nan_on_flat_value(tmp_path / "fragile.onnx", UNPROBED_LEVEL))
    return root


@pytest.mark.parametrize("call", ["StylizeTiles", "Stylize"])
def test_a_nonfinite_tile_marks_its_version_unhealthy_and_the_client_paints_again_on_the_healthy_one(
        registry_with_good_then_fragile, call):
    """The call that meets NaN fails, names the version in its trailer and marks it unhealthy; a client
    that asked for the serving version paints the image again, once, on the version serving now. Before,
    the client's stream retried the unhealthy version four more times and the call failed (an operator's
    trial: five NaN tiles for one CLI call while version 1 was healthy)."""
    with server_process(registry_with_good_then_fragile, metrics_port=0, admin_token=TOKEN, poll_interval=60) \
            as (_, address, log), TesseraClient(address, timeout=30) as client:
        assert client.list_styles()[0].serving_version == 2
        assert client.stylize(_photo(), STYLE).version == 2  # finite on photos: it serves them
        if call == "StylizeTiles":
            assert client.stylize(_flat_image(UNPROBED_LEVEL), STYLE).version == 1
        else:
            data, _ = client.stylize_encoded(_png(_flat_image(UNPROBED_LEVEL)), STYLE)
            assert Image.open(io.BytesIO(data)).size == (40, 24)
        assert counter_total(log, "tessera_nonfinite_tiles_total", style=STYLE, version="2") == 1
        assert counter_total(log, "tessera_requests_total", style=STYLE, version="2", code="INTERNAL") == 1
        assert counter_total(log, "tessera_rejected_versions", style=STYLE, reason="nonfinite_output") == 1
        style = client.list_styles()[0]
        assert (style.serving_version, style.status) == (1, "SERVING")
        assert "version 2 is unhealthy: it gave NaN or infinite values" in style.status_message
        assert "serving version 1 instead" in style.status_message
        assert client.check_health(f"style/{STYLE}")
        assert client.stylize(_flat_image(UNPROBED_LEVEL), STYLE).version == 1
        with AdminClient(address, TOKEN, timeout=10) as admin:
            styles, _ = admin.status()
        assert "version 2 is unhealthy" in styles[0].status_message
        # A call that names the unhealthy version still gets it, fails, and is not painted elsewhere.
        with pytest.raises(TesseraError) as failed:
            client.stylize(_flat_image(UNPROBED_LEVEL), STYLE, version=2)
        assert failed.value.code == grpc.StatusCode.INTERNAL
        assert f"style {STYLE} version 2 gave NaN or infinite values" in failed.value.message
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as raw:
            pb_grpc.StyleTransferStub(channel).Stylize(
                pb.StylizeRequest(style=STYLE, version=2, image=_png(_flat_image(UNPROBED_LEVEL))), timeout=30)
        assert raw.value.code() == grpc.StatusCode.INTERNAL
        assert (TRAILER, "2") in tuple(raw.value.trailing_metadata())


def test_with_no_healthy_version_left_health_and_status_say_so(tmp_path):
    root = tmp_path / "registry"
    faulty_models.add_version(root, STYLE, faulty_models.nan_on_flat_value(tmp_path / "fragile.onnx", UNPROBED_LEVEL))
    with server_process(root, poll_interval=60) as (_, address, _), TesseraClient(address, timeout=30) as client:
        assert client.check_health(f"style/{STYLE}")
        with pytest.raises(TesseraError, match="NaN or infinite values"):
            client.stylize(_flat_image(UNPROBED_LEVEL, 17, 9), STYLE)
        assert not client.check_health(f"style/{STYLE}")
        style = client.list_styles()[0]
        assert style.status == "UNAVAILABLE"
        assert "no healthy version to fall back to" in style.status_message


def test_the_cli_exits_with_the_servers_message_on_a_nonfinite_tile(tmp_path):
    root = tmp_path / "registry"
    faulty_models.add_version(root, STYLE, faulty_models.nan_on_flat_value(tmp_path / "fragile.onnx", UNPROBED_LEVEL))
    source = tmp_path / "flat.png"
    source.write_bytes(_png(_flat_image(UNPROBED_LEVEL)))
    with server_process(root, poll_interval=60) as (_, address, _):
        done = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o",
                               str(tmp_path / "out.png"), "--style", STYLE, "--server", address, "--timeout", "30"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "NaN or infinite values" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_a_repaint_on_the_healthy_version_never_reports_progress_going_back(registry_with_good_then_fragile):
    """Tiles painted by version 2 before its NaN tile counted toward the progress; the repaint on version 1
    starts its count anew, which a job's done and ETA showed as a jump back (9 of 12, then 1 of 12)."""
    image = _photo(240, 144)
    # Flat only where the last tiles and their 16 px halos lie: version 2 paints the first ones.
    image[64:, 144:] = UNPROBED_LEVEL
    told: list[tuple[int, int]] = []
    with server_process(registry_with_good_then_fragile, poll_interval=60) as (_, address, _), \
            TesseraClient(address, timeout=30) as client:
        result = client.stylize(image, STYLE, tile_size=48, progress=lambda done, total: told.append((done, total)))
    assert result.version == 1
    shares = [done / total for done, total in told]
    assert shares == sorted(shares), told
    assert told[-1][0] == told[-1][1], told


def test_a_report_behind_the_furthest_still_reaches_the_callback_which_may_cancel():
    """A job notices its cancel in its progress callback (bff.jobs): a repaint's reports behind the furthest
    count were dropped, so a cancel waited until the repaint caught up, up to an image's time (a review)."""
    from tessera.client import _never_backwards

    told: list[tuple[int, int]] = []
    forward = _never_backwards(lambda done, total: told.append((done, total)))
    for done, total in [(0, 12), (9, 12), (1, 12), (10, 12), (4, 8), (8, 8)]:
        forward(done, total)
    assert told == [(0, 12), (9, 12), (9, 12), (10, 12), (10, 12), (8, 8)]
