"""Peak memory of the client restyling one image, measured in a process of its own.

`python -m bench.client_rss --server HOST:PORT --style S --megapixels N` builds an N MP photo,
restyles it through the client and prints one JSON line: the process's peak resident set size, the
input and output sizes, and the peak after start-up (imports, the photo) as the client's own cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_bytes() -> int:
    """This process's peak resident set size. Linux's VmHWM belongs to the process's own memory map;
    getrusage's ru_maxrss would carry over the parent's peak through fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def photo(megapixels: float) -> np.ndarray:
    """A 4:3 test image of about `megapixels` MP: colour gradients with a pattern, written in bands of
    rows so that making it needs no float copy of the whole image (which would count in the peak)."""
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    image = np.empty((height, width, 3), dtype=np.uint8)
    xs = np.arange(width)
    for top in range(0, height, 256):
        ys = np.arange(top, min(height, top + 256))[:, None]
        image[top:top + len(ys), :, 0] = (xs * 255 // max(1, width - 1))[None, :]
        image[top:top + len(ys), :, 1] = ys * 255 // max(1, height - 1)
        image[top:top + len(ys), :, 2] = ((xs[None, :] // 16 + ys // 16) % 2) * 200
    return image


def measure(server: str, style: str, megapixels: float) -> dict:
    from tessera.client import TesseraClient

    image = photo(megapixels)
    with TesseraClient(server, timeout=1800) as client:
        client.list_styles(include_previews=False)
        before = _peak_rss_bytes()
        result = client.stylize(image, style)
    peak = _peak_rss_bytes()
    return {"megapixels": round(image.shape[0] * image.shape[1] / 1e6, 2), "style": style,
            "input_mb": image.nbytes / 1e6, "output_mb": result.image.nbytes / 1e6,
            "peak_rss_mb": peak / 1e6, "before_stylize_mb": before / 1e6,
            "over_input_and_output_mb": (peak - image.nbytes - result.image.nbytes) / 1e6}


def in_subprocess(server: str, style: str, megapixels: float, timeout: float = 1800) -> dict:
    """`measure` in a fresh interpreter, so nothing else in this process counts."""
    done = subprocess.run([sys.executable, "-m", "bench.client_rss", "--server", server, "--style", style,
                           "--megapixels", str(megapixels)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"client RSS run failed: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--style", required=True)
    parser.add_argument("--megapixels", type=float, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.server, args.style, args.megapixels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
