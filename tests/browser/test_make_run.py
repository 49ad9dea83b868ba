"""What `make run` starts: scripts/run_platform.py with the shipped registry, used from the page.
Every shipped style is offered, and one restyles a photo end to end."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from scripts.local_stack import stop_process
from tessera.child_process import spawn
from tessera.registry import style_dirs, version_dirs
from tests.browser.conftest import STAGE_DOWNLOAD, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [d.name for d in style_dirs(ROOT / "model_registry") if version_dirs(d)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def platform_url():
    gateway_port = _free_port()
    process = spawn([sys.executable, "-m", "scripts.run_platform", "--server-port", str(_free_port()),
                     "--gateway-port", str(gateway_port), "--metrics-port", str(_free_port())],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{gateway_port}/"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        assert stop_process(process) == 0  # Ctrl-C/SIGTERM stops both children cleanly


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "run_platform exited early"
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("the platform never became healthy")


@pytest.fixture
def page(browser, request, platform_url):
    yield from open_page(browser, request, platform_url, viewport={"width": 1280, "height": 860})


@pytest.mark.skipif(not SHIPPED, reason="model_registry/ ships no style yet")
def test_make_run_offers_every_shipped_style_and_restyles_with_one(page, photo):
    page.goto("/")
    styles = page.locator("#style-grid").get_by_role("radio")  # a conditioned style adds preset radios
    expect(styles).to_have_count(len(SHIPPED), timeout=60_000)
    styles.first.check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=120_000)
    expect(page.get_by_role("img", name="Your photo, restyled")).to_have_js_property("naturalWidth", 512)
    assert page.console_problems == []
