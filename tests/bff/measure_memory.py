"""Measures the gateway's memory under cheap, huge uploads, with real processes on loopback.

    .venv/bin/python -m tests.bff.measure_memory [--side 7000] [--count 8] [--at-once 4]

It starts an inference server on the tiny test style and `python -m bff` in front of it, then posts
black PNGs of side x side pixels (143 kB each at 7000 px) to /api/jobs: first `count` in a row, then
`at-once` together. It prints the gateway's RSS (from /proc) before, at its peak, once every job has
finished, and once they have all expired, and how many uploads were accepted or refused.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from scripts.local_stack import ROOT, running_server, stop_process
from tessera.child_process import spawn
from tests.bff.live import multipart, post_form
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version

JOB_TTL_S = 5


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


class PeakSampler:
    """Samples a process's RSS every 20 ms in a thread and keeps the highest value seen."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)


def black_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def post_job(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    return post_form(url + "api/jobs", body, content_type, timeout=120)


def wait_finished(url: str, jobs: list[dict]) -> list[str]:
    states = []
    for job in jobs:
        while True:
            with urllib.request.urlopen(url + job["status_url"].lstrip("/"), timeout=30) as resp:
                state = json.load(resp)["state"]
            if state in ("done", "failed"):
                states.append(state)
                break
            time.sleep(0.2)
    return states


def sweep_expired_jobs(url: str) -> None:
    """Expired jobs are dropped on the job store's next use; asking for any job does it."""
    try:
        urllib.request.urlopen(url + "api/jobs/no-such-job", timeout=10).close()
    except urllib.error.HTTPError as err:
        err.close()


def scenario(label: str, url: str, pid: int, uploads: int, parallel: int, body: bytes, content_type: str) -> dict:
    before = rss_mb(pid)
    started = time.monotonic()
    with PeakSampler(pid) as sampler:
        with ThreadPoolExecutor(parallel) as pool:
            answers = list(pool.map(lambda _: post_job(url, body, content_type), range(uploads)))
        accepted = [job for code, job in answers if code == 202]
        states = wait_finished(url, accepted)
    finished = rss_mb(pid)
    took = time.monotonic() - started
    time.sleep(JOB_TTL_S + 1)
    sweep_expired_jobs(url)
    codes = sorted(code for code, _ in answers)
    row = {"scenario": label, "before_mb": round(before), "peak_mb": round(sampler.peak),
           "finished_mb": round(finished), "expired_mb": round(rss_mb(pid)), "accepted": codes.count(202),
           "refused": len(codes) - codes.count(202),
           "done": states.count("done"), "seconds": round(took, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=7000)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--at-once", type=int, default=4)
    args = parser.parse_args()
    png = black_png(args.side)
    body, content_type = multipart({"style": TINY_STYLE}, {"image": ("black.png", png)})
    print(f"upload: black {args.side}x{args.side} PNG, {len(png) / 1e3:.0f} kB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry"
        write_tiny_version(registry, TINY_STYLE, Path(tmp))
        with running_server(registry) as address:
            gateway = spawn([sys.executable, "-m", "bff", "--port", "0", "--server", address,
                             "--job-ttl", str(JOB_TTL_S)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
            try:
                url = re.search(r"(http://127\.0\.0\.1:\d+/)", gateway.stdout.readline()).group(1)
                print(f"gateway idle: {rss_mb(gateway.pid):.0f} MB", flush=True)
                scenario(f"{args.count} in a row", url, gateway.pid, args.count, 1, body, content_type)
                scenario(f"{args.at_once} at once", url, gateway.pid, args.at_once, args.at_once, body, content_type)
                print(f"gateway after every job expired: {rss_mb(gateway.pid):.0f} MB", flush=True)
            finally:
                stop_process(gateway)
                gateway.stdout.close()


if __name__ == "__main__":
    main()
