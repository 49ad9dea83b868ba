"""Does the cost of a request follow its pixels? Times images of the same pixel count but different
shapes through the real gateway and server (the tiny test style).

    .venv/bin/python -m tests.bff.measure_shapes

For each shape it posts a PNG to /api/jobs, follows the job to its end and prints the tiles it took
(the job's `total`) and the seconds from upload to result, or the gateway's refusal.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from scripts.local_stack import gateway_process, running_server
from tests.bff.live import multipart, post_form
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version

SHAPES = [(2_000_000, 1), (1415, 1414), (20_000, 100), (64, 16_400)]


def png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def run_job(url: str, data: bytes) -> dict:
    body, content_type = multipart({"style": TINY_STYLE}, {"image": ("shape.png", data)})
    status, job = post_form(url + "api/jobs", body, content_type, timeout=120)
    if status != 202:
        return {"state": f"refused {status}: {job['message']}", "total": 0}
    while True:
        with urllib.request.urlopen(url + job["status_url"].lstrip("/"), timeout=30) as resp:
            snap = json.load(resp)
        if snap["state"] in ("done", "failed"):
            return snap
        time.sleep(0.05)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry"
        write_tiny_version(registry, TINY_STYLE, Path(tmp))
        with running_server(registry) as address, gateway_process([address]) as (_, url):
            for width, height in SHAPES:
                data = png(width, height)
                started = time.monotonic()
                snap = run_job(url, data)
                print(json.dumps({"shape": f"{width}x{height}", "pixels": width * height, "png_kB": len(data) // 1000,
                                  "state": snap["state"], "tiles": snap["total"],
                                  "seconds": round(time.monotonic() - started, 2)}), flush=True)


if __name__ == "__main__":
    main()
