"""Measures what the gateway adds on top of the inference server, on the real stack.

    .venv/bin/python -m tests.bff.measure_gateway [--megapixels 12] [--registry DIR --style ID]

Without --registry it builds the tiny test style. It prints, for one photo: decode and encode
times, the client's own stylize time, and the job flow over real HTTP (upload to 202, the progress
stream, fetching the result), so the gateway's share is the difference.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from skimage import data as skdata

from bff import close_app, images
from bff.backend import backend_of
from scripts.local_stack import running_server
from tests.bff.live import make_app, multipart, serving
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version


def photo_jpeg(megapixels: float) -> bytes:
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    buffer = io.BytesIO()
    Image.fromarray(skdata.astronaut()).resize((width, height), Image.Resampling.BICUBIC).save(
        buffer, "JPEG", quality=90)
    return buffer.getvalue()


def timed(label: str, fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    print(f"{label:<44} {time.perf_counter() - started:7.2f} s")
    return result


def job_flow(url: str, data: bytes, style: str) -> None:
    body, content_type = multipart({"style": style}, {"image": ("photo.jpg", data)})
    request = urllib.request.Request(url + "/api/jobs", data=body, headers={"Content-Type": content_type})

    def create() -> dict:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return json.load(resp)

    def follow(job: dict) -> int:
        with urllib.request.urlopen(url + job["events_url"], timeout=600) as stream:
            return sum(1 for line in stream if line.startswith(b"event: progress"))

    def fetch(job: dict) -> int:
        with urllib.request.urlopen(url + job["result_url"], timeout=60) as resp:
            return len(resp.read())

    started = time.perf_counter()
    job = timed("HTTP: upload, validate, decode -> 202", create)
    events = timed("HTTP: progress stream to the end", follow, job)
    size = timed("HTTP: fetch the result", fetch, job)
    print(f"{'HTTP: whole job flow':<44} {time.perf_counter() - started:7.2f} s "
          f"({events} progress events, result {size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--registry", type=Path, help="a real registry (default: the tiny test style)")
    parser.add_argument("--style", default=TINY_STYLE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = args.registry
        if registry is None:
            registry = Path(tmp) / "registry"
            write_tiny_version(registry, TINY_STYLE, Path(tmp))
        data = photo_jpeg(args.megapixels)
        print(f"photo: {args.megapixels:g} MP JPEG, {len(data) / 1e6:.1f} MB; style {args.style}")
        opened = images.open_upload(data, 100_000_000)
        pixels = timed("decode (EXIF, colour, RGB)", images.decode, opened)
        timed("encode JPEG", images.encode, pixels, "jpeg")
        timed("encode PNG", images.encode, pixels, "png")
        with running_server(registry) as address:
            app = make_app(servers=(address,), stylize_timeout_s=600)
            try:
                client = backend_of(app).client
                timed("client.stylize (no gateway)", client.stylize, pixels, args.style, timeout=600)
                with serving(app) as url:
                    job_flow(url, data, args.style)
            finally:
                close_app(app)


if __name__ == "__main__":
    main()
