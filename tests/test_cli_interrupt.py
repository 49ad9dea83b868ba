"""Ctrl-C while `tessera stylize` restyles: one line, status 130, and no result file, whole or partial.
A relay passes the real server's tiles back slowly (tests/support/grpc_relay.py), so the signal lands
once the first tile is back and long before the last."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from tessera.child_process import spawn
from tests.support import TINY_STYLE
from tests.support.grpc_relay import relay


@pytest.mark.parametrize("output", ["out.png", "folder-out"], ids=["one-photo", "a-folder"])
def test_ctrl_c_mid_run_says_interrupted_and_leaves_no_result(inference_server, tmp_path, output):
    photos = tmp_path / "photos"
    photos.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photos / "p.png")  # 16 tiles of 64 px: 16 slow replies
    source = photos / "p.png" if output == "out.png" else photos
    with relay(inference_server) as (address, controls):
        controls.delay_s = 0.5
        with ctrl_c_as_from_a_terminal():
            process = spawn([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o", str(tmp_path / output),
                             "--style", TINY_STYLE, "--server", address, "--tile", "64", "--scale", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: controls.replies >= 1 or process.poll() is not None, 60)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
    assert (process.returncode, stderr) == (130, "tessera: interrupted\n"), stdout
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["p.png"]


@contextmanager
def ctrl_c_as_from_a_terminal() -> Iterator[None]:
    """A child started in the block gets SIGINT at its default, as from a terminal: a test run in the
    background (CI under nohup) ignores SIGINT, and its children would inherit that."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler: exec resets it to default
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {seconds} s")
        time.sleep(0.02)
