"""What the server's log says about a registry it cannot fully read: a registry folder gone logged a
traceback on every scan (every 2 s by default) and said nothing when it came back; folders whose names
are no style id or version number were passed over without a word."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from scripts.local_stack import server_process
from tessera.client import TesseraClient
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version


def _wait_for(log: Path, text: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while text not in (said := log.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{said}"
        time.sleep(0.1)
    return said


def test_a_registry_gone_is_logged_once_and_its_return_said(tiny_registry, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    with server_process(registry, poll_interval=0.2) as (_, _, log):
        registry.rename(tmp_path / "away")
        _wait_for(log, "registry scan failed")
        time.sleep(1.5)  # several scans meet the same failure
        (tmp_path / "away").rename(registry)
        said = _wait_for(log, "registry scan works again")
    assert said.count("registry scan failed") == 1 and "Traceback" not in said
    assert f"registry {registry} is not a directory; serving what is loaded until a scan succeeds" in said


def test_folders_a_scan_passes_over_for_their_names_are_logged_once_each(tiny_registry, tmp_path):
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    newest = max((p for p in (registry / TINY_STYLE).iterdir() if p.is_dir()), key=lambda p: int(p.name))
    shutil.copytree(newest, registry / TINY_STYLE / "024")
    (registry / "My Style").mkdir()
    (registry / "x\n2026-12-04 INFO forged").mkdir()  # a name with a line break: one line in the log
    (registry / ".hidden").mkdir()
    (registry / TINY_STYLE / ".tmp-abc").mkdir()  # a writer's staging folder: not worth a word
    with server_process(registry, poll_interval=0.2) as (_, _, log):
        said = _wait_for(log, "'024' is not a valid version folder name")
        time.sleep(1.0)  # several scans
        said = log.read_text()
    assert said.count("'My Style' is not a valid style folder name") == 1
    assert said.count("'024' is not a valid version folder name") == 1
    assert ".hidden" not in said and ".tmp-abc" not in said
    assert "\n2026-12-04 INFO forged" not in said and "x\\n2026-12-04 INFO forged" in said


def test_a_style_folder_removed_and_put_back_is_said_as_such(tiny_registry, tmp_path):
    """The removal's line said its versions "are retired" and then that they answer for a while, and
    the return of the folder was logged as the restored version being "removed from the registry"."""
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    photo = np.zeros((32, 32, 3), dtype=np.uint8)
    with server_process(registry, poll_interval=0.2) as (_, address, log):
        with TesseraClient(address, timeout=60) as client:
            version = client.stylize(photo, TINY_STYLE).version  # in use: it drains when its folder goes
        (registry / TINY_STYLE).rename(tmp_path / "away")
        said = _wait_for(log, f"style {TINY_STYLE} no longer serves")
        assert (f"style {TINY_STYLE} no longer serves; version {version} still answers calls that ask for it "
                "by number (a clip's later frames) until 120 s after the last such call, at most 1800 s after "
                "the removal, then is retired") in said
        (tmp_path / "away").rename(registry / TINY_STYLE)
        said = _wait_for(log, f"retiring {TINY_STYLE} version {version}")
    assert f"/{TINY_STYLE}' is back: style {TINY_STYLE} serves again (version {version})" in said
    assert (f"retiring {TINY_STYLE} version {version} (its folder came back: the copy loaded before the removal "
            "is released)") in said


def test_a_style_that_never_served_is_said_to_be_gone_not_to_serve_no_longer(tiny_registry, tmp_path):
    """A style folder whose every version was rejected was logged as "no longer serves" when removed."""
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry, registry)
    write_tiny_version(registry, "broken", tmp_path)
    model = registry / "broken" / "1" / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")  # its checksum no longer matches: rejected
    with server_process(registry, poll_interval=0.2) as (_, _, log):
        shutil.rmtree(registry / "broken")
        said = _wait_for(log, "/broken' was removed")
    assert "/broken' was removed: style broken is gone; it had no version serving\n" in said
    assert "no longer serves" not in said
