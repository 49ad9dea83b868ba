"""The curl examples of docs/gateway.md run as written (the port and a job id filled in) against a
real gateway and a real inference server on loopback, serving the shipped registry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import stack

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_URL = "http://127.0.0.1:8080"


def documented_commands() -> list[str]:
    """Every line of a fenced block in docs/gateway.md that starts with `curl`, its comment removed."""
    blocks = re.findall(r"```\n(.*?)```", (ROOT / "docs" / "gateway.md").read_text(), re.S)
    # A command continued with a trailing backslash is one command, as the shell reads it.
    blocks = [re.sub(r"\\\n\s*", "", block) for block in blocks]
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]
    return [line.split("  #")[0].strip() for line in lines]


def photo(path: Path, width: int, height: int) -> None:
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 127 // (width + height)], axis=-1)
    Image.fromarray(pixels.astype(np.uint8)).save(path, "JPEG", quality=90)


@pytest.fixture(scope="module")
def gateway_url():
    # Every shipped style, served cold: warming them all (teacher-26 alone takes 15 s a run here) can
    # outlast the start-up timeout on a loaded machine, and these examples test the docs, not warm-up.
    with stack(ROOT / "model_registry", warmup_runs=0, timeout=180) as url:
        yield url


def test_the_docs_show_examples_for_the_shipped_styles():
    commands = documented_commands()
    assert len(commands) >= 5
    shipped = {p.name for p in (ROOT / "model_registry").iterdir() if (p / "style.json").exists()}
    for command in commands:
        for style in re.findall(r"style=([\w-]+)", command):
            assert style in shipped, f"docs/gateway.md uses style {style!r}, which is not shipped"


def wait_finished(status_url: str, seconds: float = 180) -> None:
    """Polls a batch's status until it has finished, as a person would before fetching its result."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(status_url, timeout=10) as resp:
            if json.load(resp)["state"] == "finished":
                return
        time.sleep(0.5)
    raise AssertionError(f"{status_url} did not finish in {seconds} s")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (make system-deps)")
def test_every_curl_example_in_the_gateway_docs_runs(gateway_url, tmp_path):
    photo(tmp_path / "photo.jpg", 320, 240)
    photo(tmp_path / "big.jpg", 640, 480)
    photo(tmp_path / "a.jpg", 200, 150)
    photo(tmp_path / "b.jpg", 150, 200)
    photo(tmp_path / "painting.jpg", 256, 256)
    ids: dict[str, str] = {}  # "jobs", "batches" or "photos" -> the id the last create command answered with
    for command in documented_commands():
        command = command.replace(DOCUMENTED_URL, gateway_url)
        created = re.search(r"/api/(jobs|batches|photos)$", command)
        used = re.search(r"/api/(jobs|batches|photos)/<id>", command) or re.search(r"(photo)_id=<id>", command)
        if used:
            kind = used.group(1).removesuffix("s") + "s"
            assert kind in ids, f"{command} needs an id, but no example before it created one"
            command = command.replace("<id>", ids[kind])
            if kind == "batches" and command.endswith("/result"):
                wait_finished(f"{gateway_url}/api/batches/{ids[kind]}")
        done = subprocess.run(["bash", "-c", command + " --fail-with-body --max-time 300"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=320)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if created:
            ids[created.group(1)] = json.loads(done.stdout)["id"]
        if "/events" in command:
            assert "event: done" in done.stdout
        if "/api/limits" in command:
            assert json.loads(done.stdout)["max_upload_bytes"] > 0
    for name, size, fmt in (("out.jpg", (320, 240), "JPEG"), ("out.png", (320, 240), "PNG"),
                            ("big-umber-oil.jpg", (640, 480), "JPEG")):
        with Image.open(tmp_path / name) as result:
            assert (result.format, result.size) == (fmt, size)
    with zipfile.ZipFile(tmp_path / "restyled.zip") as archive:
        assert len([n for n in archive.namelist() if n.endswith(".jpg")]) == 2
