"""`make run` (scripts/run_platform.py) without a browser: the admin token and the metrics port it
passes on, and a clear stop when a port is taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.procfs import is_running
from scripts.local_stack import ROOT, stop_process
from tessera.admin_client import AdminClient
from tessera.child_process import spawn
from tests.support import TINY_STYLE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _platform(registry, metrics_port: int, *extra: str) -> tuple[subprocess.Popen, int, int]:
    server_port, gateway_port = _free_port(), _free_port()
    process = spawn([sys.executable, "-m", "scripts.run_platform", "--registry", str(registry),
                     "--server-port", str(server_port), "--gateway-port", str(gateway_port),
                     "--metrics-port", str(metrics_port), *extra],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return process, server_port, gateway_port


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


def test_make_run_passes_the_admin_token_file_and_the_metrics_port(tiny_registry, tmp_path):
    token = tmp_path / "admin-token"
    token.write_text("run-platform-token\n")
    metrics_port = _free_port()
    process, server_port, gateway_port = _platform(tiny_registry, metrics_port, "--admin-token-file", str(token))
    try:
        _wait_for(f"http://127.0.0.1:{gateway_port}/healthz", process)
        _wait_for(f"http://127.0.0.1:{metrics_port}/metrics", process)
        with AdminClient(f"127.0.0.1:{server_port}", "run-platform-token", timeout=10) as admin:
            assert [s.id for s in admin.status()[0]] == [TINY_STYLE]
    finally:
        # Longer than run_platform's own grace for each child (stop_process's default), so a slow
        # child is stopped by run_platform, not run_platform killed by this test.
        code = stop_process(process, grace=2 * 15.0 + 15.0)
        try:
            err = process.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:  # a killed run_platform's children hold the pipe while they stop
            err = "(run_platform was killed; its children still held its stderr)"
        finally:
            process.stderr.close()
    assert code == 0, err


def test_make_run_with_a_taken_metrics_port_stops_with_one_clear_line(tiny_registry):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process, _, _ = _platform(tiny_registry, port)
        try:
            process.wait(60)
        finally:
            stop_process(process)
        err = process.stderr.read()
        process.stderr.close()
    assert process.returncode == 1
    assert f"tessera-server: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use" in err
    assert "Traceback" not in err


def _children(pid: int) -> list[int]:
    return [int(p) for p in (Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def test_make_run_killed_with_sigkill_leaves_no_server_or_gateway_behind(tiny_registry):
    process, _, gateway_port = _platform(tiny_registry, _free_port())
    try:
        _wait_for(f"http://127.0.0.1:{gateway_port}/healthz", process)
        children = _children(process.pid)
        assert len(children) == 2, children  # the server and the gateway
        process.kill()  # no cleanup runs in run_platform
        process.wait(10)
        deadline = time.monotonic() + 30
        while any(is_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in children if is_running(pid)]
    finally:
        process.stderr.close()
    for pid in left:  # do not leave them to the next test either
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it stopped after all
            pass
    assert not left, f"run_platform's children {left} outlived it"


@pytest.mark.parametrize("flags, words", [
    (["--server-port", "0"], "argument --server-port: a port is a number from 1 to 65535, got 0"),
    (["--gateway-port", "0"], "argument --gateway-port: a port is a number from 1 to 65535, got 0"),
    (["--metrics-port", "0"], "argument --metrics-port: a port is a number from 1 to 65535 (or -1: off), got 0"),
    (["--server-port", "70000"], "got 70000"),
    (["--gateway-port", "http"], "got http"),
], ids=["server-0", "gateway-0", "metrics-0", "server-too-high", "gateway-not-a-number"])
def test_a_port_it_cannot_pass_on_is_refused_before_anything_starts(flags, words):
    """Port 0 used to start the server on a free port while the gateway was told 127.0.0.1:0, so every
    request failed with 503 (a fresh pair of eyes found it); make run needs ports it can name."""
    done = subprocess.run([sys.executable, "-m", "scripts.run_platform", *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and words in done.stderr and "Tessera is starting" not in done.stdout
