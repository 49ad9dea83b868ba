"""Measure the inference server's memory (RSS from /proc) as it serves styles and image sizes.

    python -m scripts.server_memory --registry model_registry --tile 1024 --side 3072
    python -m scripts.server_memory --registry model_registry --megapixels 1 64 --styles umber-oil
    python -m scripts.server_memory --registry REG --styles any-painting-best --side 2450 --tile 1000 \
        --settle 20 --idle 40 --server-flag cpu_engine=auto

The first form restyles a side x side image with every style in turn and prints the server's RSS
after each, then after idling; the second restyles one style at each size and prints the peak RSS
during each image (the peak is reset through /proc/PID/clear_refs between images). The server is a
real `python -m inference_server` child process with `--threads` threads per runtime call (default:
the server's own); this process is the client. Prints one JSON object per line, and a summary table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from scripts.local_stack import ROOT, server_process
from tessera.client import TesseraClient


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of a process, in MiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024


def reset_peak(pid: int) -> None:
    """Start a new VmHWM window (Linux: writing 5 to clear_refs resets the peak RSS)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def sample_image(width: int, height: int) -> np.ndarray:
    """A photo-like HxWx3 uint8 image of any size: one 512 px photo-like tile, mirrored and repeated."""
    from inference_server.probe_tiles import photo_like

    tile = photo_like(512, 512, seed=7)
    block = np.concatenate([np.concatenate([tile, tile[:, ::-1]], 1),
                            np.concatenate([tile[::-1], tile[::-1, ::-1]], 1)], 0)
    reps = (-(-height // block.shape[0]), -(-width // block.shape[1]), 1)
    return np.ascontiguousarray(np.tile(block, reps)[:height, :width])


@contextmanager
def server(registry: Path, threads: int, extra: dict[str, str]):
    """A server child process (scripts.local_stack); yields (pid, address)."""
    flags = {"threads": threads, "poll_interval": 3600, "stream_idle_seconds": 3600, **extra}
    with server_process(registry, timeout=300, **flags) as (process, address, _):
        yield process.pid, address


def styles_in_turn(args: argparse.Namespace) -> list[dict]:
    rows = []
    with server(args.registry, args.threads, args.server_flag) as (pid, address), \
            TesseraClient(address, timeout=3600) as client:
        styles = args.styles or [s.id for s in client.list_styles()]
        image = sample_image(args.side, args.side)
        time.sleep(args.settle)
        rows.append({"phase": "loaded" + (f", {args.settle:.0f} s later" if args.settle else ""),
                     "rss_mib": rss_mib(pid)})
        for style in styles:
            started = time.perf_counter()
            client.stylize(image, style, tile_size=args.tile)
            seconds = time.perf_counter() - started
            rows.append({"phase": f"after {style}", "rss_mib": rss_mib(pid), "peak_mib": rss_mib(pid, "VmHWM"),
                         "mp_per_s": image.shape[0] * image.shape[1] / 1e6 / seconds})
        time.sleep(args.idle)
        rows.append({"phase": f"idle {args.idle:.0f} s", "rss_mib": rss_mib(pid), "peak_mib": rss_mib(pid, "VmHWM")})
    return rows


def sizes_in_turn(args: argparse.Namespace) -> list[dict]:
    rows = []
    with server(args.registry, args.threads, args.server_flag) as (pid, address), \
            TesseraClient(address, timeout=3600) as client:
        style = (args.styles or [client.list_styles()[0].id])[0]
        rows.append({"phase": "loaded", "rss_mib": rss_mib(pid)})
        for megapixels in args.megapixels:
            side = int(round((megapixels * 1e6) ** 0.5))
            image = sample_image(side, side)
            reset_peak(pid)
            started = time.perf_counter()
            client.stylize(image, style, tile_size=args.tile)
            seconds = time.perf_counter() - started
            rows.append({"phase": f"{megapixels} MP ({side}x{side}) {style}", "rss_mib": rss_mib(pid),
                         "peak_mib": rss_mib(pid, "VmHWM"), "mp_per_s": side * side / 1e6 / seconds})
            del image
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "model_registry")
    parser.add_argument("--styles", nargs="*", default=[], help="style ids (default: every style)")
    parser.add_argument("--tile", type=int, default=512, help="core tile edge the client sends")
    parser.add_argument("--side", type=int, default=3072, help="image edge for the styles-in-turn run")
    parser.add_argument("--megapixels", type=float, nargs="*", default=[],
                        help="image sizes for the sizes-in-turn run (then only the first style is used)")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads per runtime call (0: the server's default)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to idle before the last reading")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds after the load before the first reading (what a version does once idle, "
                             "such as OpenVINO fp32's static compiles, included)")
    parser.add_argument("--server-flag", action="append", default=[], metavar="NAME=VALUE",
                        help="extra server flag, e.g. max_batch_size=1 (repeatable)")
    args = parser.parse_args(argv)
    args.server_flag = dict(flag.split("=", 1) for flag in args.server_flag)
    rows = sizes_in_turn(args) if args.megapixels else styles_in_turn(args)
    for row in rows:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
