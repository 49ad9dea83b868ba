"""Gateway and worker processes for multi-process tests, and a small HTTP/SSE client for them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.local_stack import _flags, stop_process
from tessera.child_process import spawn

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gateway_process(servers: list[str], log_dir: Path, name: str,
                    **flags: object) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python -m bff --port 0` with extra flags (job_store=URL -> --job-store URL); yields (process,
    base URL without a trailing slash). Its log goes to log_dir/<name>.log."""
    args = [sys.executable, "-m", "bff", "--port", "0", "--server", ",".join(servers), *_flags(flags)]
    with _started(args, log_dir / f"{name}.log", r"(http://127\.0\.0\.1:\d+)/") as (process, match):
        yield process, match.group(1)


@contextmanager
def worker_process(servers: list[str], log_dir: Path, name: str, **flags: object) -> Iterator[subprocess.Popen]:
    """`python -m bff.worker` with extra flags; yields the process once it says it runs."""
    args = [sys.executable, "-m", "bff.worker", "--server", ",".join(servers), *_flags(flags)]
    with _started(args, log_dir / f"{name}.log", r"Tessera worker (\S+):") as (process, _):
        yield process


@contextmanager
def _started(args: list[str], log_path: Path, ready: str, timeout: float = 60.0):
    with open(log_path, "w") as log:
        process = spawn(args, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not (match := re.search(ready, log_path.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[2]} did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield process, match
    finally:
        stop_process(process)




def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def follow_events(url: str, last_event_id: str | None = None, timeout: float = 60) -> list[tuple[str, str, dict]]:
    """Reads a Server-Sent Events stream to its end; returns (id, event, data) for every event."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events, current = [], {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    events.append((current.get("id", ""), current["event"], json.loads(current["data"])))
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return events
