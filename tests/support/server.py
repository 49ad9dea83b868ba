"""Start the real inference server as a child process on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_server(registry: Path, timeout: float = 60.0, **flags: object) -> Iterator[str]:
    """Run `python -m inference_server` on 127.0.0.1 with an OS-chosen port; yield 'HOST:PORT'.

    Extra keyword flags become command-line flags (poll_interval=0.2 -> --poll-interval 0.2).
    The process is stopped with SIGTERM (then killed) when the block ends.
    """
    args = [sys.executable, "-m", "inference_server", "--registry", str(registry), "--host", "127.0.0.1",
            "--port", "0", "--threads", "1"]
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        address = _wait_for_address(process, timeout)
        _wait_serving(address, timeout)
        yield address
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


def _wait_for_address(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        match = re.search(r"listening on (\S+:\d+)", line)
        if match:
            _drain(process)
            return match.group(1)
    raise RuntimeError("inference server did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen) -> None:
    """Keep reading the child's output so a full pipe never blocks it."""
    import threading

    def pump() -> None:
        for _ in process.stdout:
            pass

    threading.Thread(target=pump, daemon=True).start()


def _wait_serving(address: str, timeout: float) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"inference server at {address} never reported SERVING")
