"""Serving speed of the shipped styles in megapixels per second, for docs/styles.md.

Each style restyles the same photo, upscaled to about ``--megapixels`` MP, through the real inference
server (started here on loopback) and the client's tiled streaming path: decoding, tiling, batching,
ONNX Runtime, blending and gRPC all count. The figure is the median of ``--repeats`` timed runs after
one warm-up run. It depends on the load of the machine, so the docs give the command with the number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from scripts.sizes import parse_size


def speed_image(megapixels: float, size: str = "") -> np.ndarray:
    """scikit-image's astronaut (public domain) resized to about ``megapixels`` MP (a square), or to
    ``size`` ("WxH", e.g. "2048x1536"), as HxWx3 uint8."""
    from skimage import data

    if size:
        width, height = parse_size(size)
    else:
        width = height = int(round((megapixels * 1e6) ** 0.5))
    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BICUBIC))


def measure(address: str, style: str, image: np.ndarray, repeats: int) -> dict:
    """Median seconds and MP/s of restyling ``image`` with ``style`` (one warm-up run first)."""
    from tessera.client import TesseraClient

    with TesseraClient(address, timeout=600.0) as client:
        client.stylize(image, style)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = client.stylize(image, style)
            seconds.append(time.perf_counter() - start)
    megapixels = image.shape[0] * image.shape[1] / 1e6
    median = statistics.median(seconds)
    return {"style": style, "version": result.version, "megapixels": round(megapixels, 2),
            "seconds": round(median, 3), "mp_per_s": round(megapixels / median, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=Path("model_registry"))
    parser.add_argument("--style", action="append", help="style id (repeatable); default every serving style")
    parser.add_argument("--megapixels", type=float, default=4.0)
    parser.add_argument("--size", default="", help="WxH instead of a square of --megapixels, e.g. 2048x1536")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime threads per runtime call (0: the server's default)")
    args = parser.parse_args(argv)

    from scripts.local_stack import local_server
    from scripts.style_grids import serving_styles

    image = speed_image(args.megapixels, args.size)
    with local_server(args.registry, args.threads) as address:
        for style in args.style or serving_styles(address):
            print(json.dumps(measure(address, style, image, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
