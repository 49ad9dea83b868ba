"""A bounded load and soak test on loopback: real inference server, real gateway, 8 concurrent clients.

    .venv/bin/python -m scripts.soak --duration 600 --warmup 120    # `make soak`: 10 minutes
    .venv/bin/python -m scripts.soak --duration 50 --warmup 30      # `make test`: 20 s after warm-up

Half the clients post a small photo to the gateway's POST /api/stylize, half call the server's
StylizeTiles through tessera.client, each in a loop until the duration is over. It reports, per path,
the calls, throughput, p50/p99 latency and errors, and each process's RSS at the start, after the
warm-up and at the end. It fails (exit 1) when any call failed or a process's RSS grew by more than 5%
after the warm-up. The server's heap settles over its first 90-180 s of load (docs/reliability.md,
"Load and soak"), hence `make soak`'s 120-s warm-up.

RSS is read every second. Growth is the trend of all readings after the warm-up: a Theil-Sen line
(the median of the slopes between every pair of readings; Sen 1968) fitted to them, its rise over the
measured span against its level at the end of the warm-up. A leak raises every reading and so the
line; the tiles and arena blocks in flight at an instant move single readings by +-50 MB on the server
(the medians of its 30-s windows by +-10%), which two windows compared end to end cannot tell from
growth, and which moves a median of slopes little. The medians of the last `window` seconds of the
warm-up and of the run are reported beside it, and gate the short run of `make test` (see
`growth_after_warmup`).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import theilslopes

from scripts.local_stack import SERVER_MODULE, gateway_process, server_process
from tessera.client import TesseraClient, TesseraError
from tests.bff.live import multipart
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version

CLIENTS = 8
MAX_RSS_GROWTH = 0.05
PHOTO_SIZE = (384, 256)  # a few tiles' worth at the server's default tile size


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB, from /proc."""
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


@dataclass
class PathStats:
    """Latencies and failures of one path, shared by its client threads."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies.append(seconds)
            else:
                self.errors.append(error)

    def summary(self, duration: float) -> dict:
        done = sorted(self.latencies)
        pick = (lambda q: round(float(np.quantile(done, q)) * 1000, 1)) if done else (lambda q: None)
        return {"calls": len(done), "per_s": round(len(done) / duration, 2), "p50_ms": pick(0.5),
                "p99_ms": pick(0.99), "errors": len(self.errors), "first_errors": self.errors[:3]}


def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    width, height = PHOTO_SIZE
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def http_client(url: str, stop: threading.Event, stats: PathStats) -> None:
    buffer = io.BytesIO()
    Image.fromarray(photo()).save(buffer, "PNG")
    body, content_type = multipart({"style": TINY_STYLE}, {"image": ("photo.png", buffer.getvalue())})
    while not stop.is_set():
        started, error = time.perf_counter(), None
        request = urllib.request.Request(url + "api/stylize", data=body, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                if len(resp.read()) == 0:
                    error = "empty image"
        except (urllib.error.URLError, OSError) as err:
            error = f"{type(err).__name__}: {err}"
        stats.record(time.perf_counter() - started, error)


def grpc_client(address: str, stop: threading.Event, stats: PathStats) -> None:
    pixels = photo()
    with TesseraClient(address, timeout=60) as client:
        while not stop.is_set():
            started, error = time.perf_counter(), None
            try:
                result = client.stylize(pixels, TINY_STYLE)
                if result.image.shape != pixels.shape:
                    error = f"wrong shape {result.image.shape}"
            except TesseraError as err:
                error = str(err)
            stats.record(time.perf_counter() - started, error)


class RssSampler:
    """Reads each process's RSS once a second, in a thread, with the time of each reading."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.readings: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.readings[name].append((time.monotonic() - started, rss_mb(pid)))
            self._stop.wait(1.0)

    def median(self, name: str, start: float, end: float) -> float:
        """Median RSS in MB of the readings taken between `start` and `end` seconds."""
        values = [mb for t, mb in self.readings[name] if start <= t <= end]
        return round(float(np.median(values)), 1)

    def peak(self, name: str) -> float:
        return round(max(mb for _, mb in self.readings[name]), 1)


def rss_window(duration: float, warmup: float) -> float:
    """Seconds of readings behind each RSS median: 30, or less for short runs."""
    return min(30.0, warmup / 2, (duration - warmup) / 2)


def trend_growth(readings: list[tuple[float, float]], start: float, end: float) -> float:
    """Relative rise of the Theil-Sen line through the (seconds, MB) `readings` taken between `start` and
    `end` seconds: (line(end) - line(start)) / line(start); 0.05 is 5% growth over the span. Needs at
    least 3 readings (ValueError otherwise)."""
    points = [(t, mb) for t, mb in readings if start <= t <= end]
    if len(points) < 3:
        raise ValueError(f"{len(points)} RSS readings between {start} and {end} s; a trend needs 3")
    times, values = np.array(points).T
    slope, intercept, _, _ = theilslopes(values, times)
    level = intercept + slope * start
    return float(slope * (end - start) / level)


def run_load(address: str, url: str, pids: dict[str, int], duration: float, warmup: float) -> dict:
    """Runs the clients for `duration` seconds, the first `warmup` of them unmeasured for RSS; returns the report."""
    stats = {"gateway_http": PathStats(), "server_grpc": PathStats()}
    stop = threading.Event()
    threads = [threading.Thread(target=http_client, args=(url, stop, stats["gateway_http"]), daemon=True)
               for _ in range(CLIENTS // 2)]
    threads += [threading.Thread(target=grpc_client, args=(address, stop, stats["server_grpc"]), daemon=True)
                for _ in range(CLIENTS - CLIENTS // 2)]
    rss = {name: {"start_mb": round(rss_mb(pid), 1)} for name, pid in pids.items()}
    window = rss_window(duration, warmup)
    started = time.monotonic()
    with RssSampler(pids) as sampler:
        for thread in threads:
            thread.start()
        time.sleep(duration)
        stop.set()
    for thread in threads:
        thread.join(90)
    elapsed = time.monotonic() - started
    for name, row in rss.items():
        row["warm_mb"] = sampler.median(name, warmup - window, warmup)
        row["end_mb"] = sampler.median(name, duration - window, duration)
        row["peak_mb"] = sampler.peak(name)
        # The whole run in windows, to see where warm-up growth ends (docs/reliability.md, "Load and soak").
        row["window_medians_mb"] = [sampler.median(name, start, start + window)
                                    for start in np.arange(0.0, duration - window / 2, window)]
        row["growth_after_warmup"] = round(row["end_mb"] / row["warm_mb"] - 1, 4)
        row["trend_growth_after_warmup"] = round(trend_growth(sampler.readings[name], warmup, duration), 4)
    return {"duration_s": round(elapsed, 1), "warmup_s": warmup, "rss_window_s": window, "clients": CLIENTS,
            "paths": {name: s.summary(elapsed) for name, s in stats.items()}, "rss": rss}


def problems(report: dict) -> list[str]:
    """What makes the run fail: any failed call, or RSS growth above 5% after the warm-up (by the trend of
    the readings, `trend_growth`)."""
    found = [f"{name}: {p['errors']} failed calls, e.g. {p['first_errors']}"
             for name, p in report["paths"].items() if p["errors"]]
    found += [f"{name}: no call completed" for name, p in report["paths"].items() if not p["calls"]]
    found += [f"{name}: RSS grew {row['trend_growth_after_warmup']:.1%} after the warm-up by the trend of its "
              f"readings (medians {row['warm_mb']} -> {row['end_mb']} MB)"
              for name, row in report["rss"].items() if row["trend_growth_after_warmup"] > MAX_RSS_GROWTH]
    return found


def soak(duration: float, warmup: float, heap_log: Path | None = None) -> dict:
    """Starts a tiny-style server and a gateway, runs the load, stops them; returns the report.
    With `heap_log`, the server runs under scripts.heap_probe, which logs its memory there every 5 s."""
    launcher = SERVER_MODULE if heap_log is None else \
        ("-m", "scripts.heap_probe", "--log", str(heap_log.resolve()), "--")
    with tempfile.TemporaryDirectory(prefix="tessera-soak-") as tmp:
        registry = Path(tmp) / "registry"
        write_tiny_version(registry, TINY_STYLE, Path(tmp))
        with server_process(registry, launcher=launcher, threads=1) as (server, address, _), \
                gateway_process([address]) as (gateway, url):
            report = run_load(address, url, {"server": server.pid, "gateway": gateway.pid}, duration, warmup)
    report["problems"] = problems(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load in all (default 600)")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds of it before RSS is compared (120)")
    parser.add_argument("--heap-log", type=Path, help="log where the server's memory is, every 5 s, to this "
                        "file (JSON lines, scripts.heap_probe)")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.duration:
        parser.error("--warmup must be above 0 and below --duration")
    report = soak(args.duration, args.warmup, args.heap_log)
    print(json.dumps(report, indent=2))
    for problem in report["problems"]:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
