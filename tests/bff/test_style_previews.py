"""The gateway polls the style list without previews and fetches previews again only when a style's
serving version changes (a preview belongs to a version)."""

import time

import pytest

from bff import close_app
from bff.backend import backend_of
from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.registry import write_version
from tests.bff.gallery import TONES, ToneGenerator, preview_jpeg, write_gallery
from tests.bff.live import make_app
from tests.support.tiny_model import export_onnx, tiny_manifest
from tests.support.wire import Recorder

STYLE = next(iter(TONES))


@pytest.fixture
def gallery(tmp_path):
    return write_gallery(tmp_path / "registry", tmp_path)


def _preview_requests(recorder: Recorder) -> list[bool]:
    """For each ListStyles call so far: whether it asked for previews."""
    return [not request.HasField("include_previews") or request.include_previews
            for request, _ in recorder.unary if hasattr(request, "include_previews")]


def test_previews_are_fetched_once_per_serving_version(gallery, tmp_path):
    recorder = Recorder()
    with running_server(gallery, poll_interval=0.2) as address:
        app = make_app(servers=(address,), styles_cache_s=0.0)
        backend = backend_of(app)
        backend.client.close()
        backend.client = TesseraClient(address, timeout=10, interceptors=[recorder])
        try:
            web = app.test_client()
            first = web.get(f"/api/styles/{STYLE}/preview.jpg").data
            for _ in range(3):
                assert web.get("/api/styles").status_code == 200
            assert _preview_requests(recorder) == [False, True, False, False, False]

            model = ToneGenerator(TONES[STYLE][2], seed=99)
            export_onnx(model, tmp_path / "v2.onnx")
            (tmp_path / "v2.jpg").write_bytes(preview_jpeg(model, size=160))
            manifest = tiny_manifest()
            manifest["artifacts"]["preview"] = {"file": "preview.jpg"}
            write_version(gallery, STYLE, {"model.onnx": tmp_path / "v2.onnx", "preview.jpg": tmp_path / "v2.jpg"},
                          manifest)
            deadline = time.monotonic() + 30
            while backend.style(STYLE).serving_version != 2:
                assert time.monotonic() < deadline, "the new version was never served"
                time.sleep(0.2)
            second = web.get(f"/api/styles/{STYLE}/preview.jpg").data
        finally:
            close_app(app)
    assert second == (tmp_path / "v2.jpg").read_bytes() != first
    asked = _preview_requests(recorder)
    assert asked.count(True) == 2  # once at start, once for version 2
