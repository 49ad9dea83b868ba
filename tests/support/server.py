"""Start the real inference server as a child process on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tessera.client import server_is_serving

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_server(registry: Path, timeout: float = 60.0, **flags: object) -> Iterator[str]:
    """Run `python -m inference_server` on 127.0.0.1 with an OS-chosen port; yield 'HOST:PORT'.

    Extra keyword flags become command-line flags (poll_interval=0.2 -> --poll-interval 0.2).
    The process is stopped with SIGTERM (then killed) when the block ends.
    """
    with server_process(registry, timeout, **flags) as (_, address, _):
        yield address


@contextmanager
def server_process(registry: Path, timeout: float = 60.0,
                   **flags: object) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """Like `running_server`, but yields (process, address, log file) for tests of its lifecycle."""
    args = [sys.executable, "-m", "inference_server", "--registry", str(registry), "--host", "127.0.0.1",
            "--port", "0", "--threads", "1"]
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    with tempfile.TemporaryDirectory(prefix="tessera-server-") as logs:
        log_path = Path(logs) / "server.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                       stdout=log, stderr=subprocess.STDOUT)
        try:
            address = wait_for_address(process, log_path, timeout)
            _wait_serving(address, timeout)
            yield process, address, log_path
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_for_address(process: subprocess.Popen, log_path: Path, timeout: float) -> str:
    """The HOST:PORT a server process prints once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text()
        match = re.search(r"listening on (\S+:\d+)", text)
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"inference server did not start:\n{log_path.read_text()}")


def _wait_serving(address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server_is_serving(address):
        if time.monotonic() > deadline:
            raise RuntimeError(f"inference server at {address} never reported SERVING")
        time.sleep(0.1)
