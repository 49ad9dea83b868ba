"""Files of a loaded version changing on disk: the watcher notices, says so in Status, the log and the
metrics, and the version keeps serving from memory; a restart would reject it."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from scripts.local_stack import server_process
from tessera.admin_client import AdminClient
from tessera.client import TesseraClient
from tests.support.metrics import counter_total
from tests.support.tiny_model import write_tiny_version

STYLE = "watched"
TOKEN = "disk-test"
POLL = 0.2
pytestmark = pytest.mark.timeout(120)


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _rewrite_manifest(path) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "metrics": {"psnr_to_teacher": 99.0}}))


def _delete(path) -> None:
    path.unlink()


def _status(admin: AdminClient):
    styles, rejected = admin.status()
    return styles[0], rejected


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(POLL)


@pytest.mark.parametrize(("damage", "file", "expected"), [
    (_truncate, "model.onnx", "checksum mismatch for model.onnx"),
    (_delete, "model.onnx", "artifact model.onnx is missing"),
    (_rewrite_manifest, "manifest.json", "manifest.json differs"),
])
def test_a_changed_file_of_the_serving_version_is_reported_while_it_serves_from_memory(tmp_path, damage, file,
                                                                                         expected):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    target = root / STYLE / "1" / file
    original = target.read_bytes()
    photo = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    with server_process(root, metrics_port=0, admin_token=TOKEN, poll_interval=POLL) as (_, address, log), \
            AdminClient(address, TOKEN, timeout=10) as admin, TesseraClient(address, timeout=30) as client:
        before = client.stylize(photo, STYLE).image
        damage(target)
        style, rejected = _wait_for(lambda: (s := _status(admin))[1] and s)
        assert [(s, v) for s, v, _ in rejected] == [(STYLE, 1)] and expected in rejected[0][2]
        assert "the copy in memory still serves" in rejected[0][2]
        assert f"version 1 changed on disk since it was loaded ({expected}" in style.status_message
        assert (style.serving_version, style.status) == (1, "SERVING")
        assert counter_total(log, "tessera_rejected_versions", style=STYLE, reason="changed_on_disk") == 1
        assert "watched version 1 changed on disk since it was loaded" in log.read_text()
        assert np.array_equal(client.stylize(photo, STYLE).image, before)  # still served, from memory

        target.write_bytes(original)  # an operator puts the right file back
        style = _wait_for(lambda: (s := _status(admin)[0]).status_message == "" and s)
        assert style and not admin.status()[1]
        assert counter_total(log, "tessera_rejected_versions", style=STYLE, reason="changed_on_disk") == 0


def test_a_restart_rejects_the_version_whose_file_was_truncated(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path)
    write_tiny_version(root, STYLE, tmp_path, seed=1)
    _truncate(root / STYLE / "2" / "model.onnx")
    with server_process(root, metrics_port=0, admin_token=TOKEN) as (_, address, log), \
            AdminClient(address, TOKEN, timeout=10) as admin:
        style, rejected = _status(admin)
        assert style.serving_version == 1
        assert [(s, v) for s, v, _ in rejected] == [(STYLE, 2)] and "checksum mismatch" in rejected[0][2]
        assert counter_total(log, "tessera_rejected_versions", style=STYLE, reason="checksum") == 1
