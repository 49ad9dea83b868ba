"""Start Tessera's processes on this machine: the one place that knows how.

Tests, the bench and the scripts (`make run`, `make screenshot`, the docs' figures) all use it:
- `server_process` / `running_server`: `python -m inference_server` as a child on a loopback port,
- `gateway_process`: `python -m bff` as a child in front of given servers,
- `local_server`: the same server inside this process (no child, for the docs scripts),
- `server_command` / `gateway_command`: the command lines, for callers that supervise children themselves.
"""

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

from tessera.child_process import spawn
from tessera.client import server_is_serving

ROOT = Path(__file__).resolve().parents[1]


def _flags(flags: dict[str, object]) -> list[str]:
    """Keyword flags as command-line flags: poll_interval=0.2 -> ['--poll-interval', '0.2']."""
    out = []
    for key, value in flags.items():
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


SERVER_MODULE = ("-m", "inference_server")


def server_command(registry: Path, launcher: tuple[str, ...] = SERVER_MODULE, **flags: object) -> list[str]:
    """`python -m inference_server` on `registry` with keyword flags (host, port, threads, ...).

    `launcher` replaces `-m inference_server`, e.g. with a wrapper that takes the server's flags after
    `--` (scripts.heap_probe)."""
    return [sys.executable, *launcher, "--registry", str(registry), *_flags(flags)]


def gateway_command(servers: list[str] | tuple[str, ...], **flags: object) -> list[str]:
    """`python -m bff` in front of `servers` (HOST:PORT each) with keyword flags."""
    return [sys.executable, "-m", "bff", "--server", ",".join(servers), *_flags(flags)]


@contextmanager
def running_server(registry: Path, timeout: float = 60.0, **flags: object) -> Iterator[str]:
    """Run the server on 127.0.0.1 with an OS-chosen port and one intra-op thread per runtime call (and,
    by default, one runner per core); yield 'HOST:PORT'.

    Extra keyword flags become command-line flags (poll_interval=0.2 -> --poll-interval 0.2).
    The process is stopped with SIGTERM (then killed) when the block ends.
    """
    with server_process(registry, timeout, **flags) as (_, address, _):
        yield address


@contextmanager
def server_process(registry: Path, timeout: float = 60.0, env: dict[str, str] | None = None,
                   launcher: tuple[str, ...] = SERVER_MODULE,
                   **flags: object) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """Like `running_server`, but yields (process, address, log file), for tests of its lifecycle.

    `env` adds variables to the child's environment; `launcher` as in `server_command`. Raises
    RuntimeError (with the log) when the server does not start or never reports SERVING within
    `timeout` seconds.
    """
    args = server_command(registry, launcher, **{"host": "127.0.0.1", "port": 0, "threads": 1, **flags})
    with tempfile.TemporaryDirectory(prefix="tessera-server-") as logs:
        log_path = Path(logs) / "server.log"
        with open(log_path, "w") as log:
            process = spawn(args, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT)
        try:
            address = wait_for_address(process, log_path, timeout)
            _wait_serving(address, timeout, "tls_cert" in flags)
            yield process, address, log_path
        finally:
            stop_process(process)


@contextmanager
def gateway_process(servers: list[str] | tuple[str, ...], **flags: object) -> Iterator[tuple[subprocess.Popen, str]]:
    """The gateway on 127.0.0.1 with an OS-chosen port; yields (process, base URL 'http://HOST:PORT/')."""
    args = gateway_command(servers, **{"host": "127.0.0.1", "port": 0, **flags})
    process = spawn(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://\S+:\d+/)", line)
        if not match:
            raise RuntimeError(f"the gateway did not print its URL, it printed {line!r}")
        yield process, match.group(1)
    finally:
        stop_process(process)
        process.stdout.close()


@contextmanager
def local_server(registry: Path, threads: int = 0) -> Iterator[str]:
    """Serve ``registry`` in this process on 127.0.0.1 (port chosen by the OS) and yield its 'HOST:PORT'.

    It is the same server `make run` starts (``inference_server.server.start``): it loads and
    validates every version, tiles, batches and streams. It stops when the block ends.
    """
    from inference_server.config import parse_config
    from inference_server.metrics import ServerMetrics
    from inference_server.server import start

    config = parse_config(["--registry", str(registry), *_flags({"host": "127.0.0.1", "port": 0,
                                                                 "threads": threads, "poll_interval": 3600})])
    running = start(config, ServerMetrics())
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(1.0)


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
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


def _wait_serving(address: str, timeout: float, tls: bool) -> None:
    if tls:
        return  # a plaintext health check cannot reach a TLS server; the caller checks with its own CA
    deadline = time.monotonic() + timeout
    while not server_is_serving(address):
        if time.monotonic() > deadline:
            raise RuntimeError(f"inference server at {address} never reported SERVING")
        time.sleep(0.1)
