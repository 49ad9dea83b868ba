"""`python -m bff` as a real process under waitress: it prints its URL, streams job progress over
real HTTP as it happens, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bff.__main__ import FirstStopSignal, ignore_stop_signals
from scripts.local_stack import gateway_process, stop_process
from tessera.child_process import spawn
from tests.bff.live import multipart
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gateway(inference_server):
    """Base URL of `python -m bff --port 0` in front of the session's inference server."""
    with gateway_process([inference_server]) as (process, url):
        yield process, url


@pytest.mark.parametrize("command", [[sys.executable, "-m", "bff"],
                                     [str(Path(sys.executable).with_name("tessera-gateway"))]],
                         ids=["python -m bff", "tessera-gateway"])
def test_help_documents_the_flags(command):
    out = subprocess.run([*command, "--help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for flag in ("--server", "--port", "--max-upload-mb", "--max-megapixels", "--job-ttl", "TESSERA_SERVERS"):
        assert flag in out


@pytest.mark.parametrize("flags, words", [
    (["--server", "no-port-here"], "is not HOST:PORT"),
    (["--server", "host.invalid:1,other.invalid:2"], "cannot start the gateway"),
    (["--port", "{taken}"], "cannot listen on"),
], ids=["malformed-server", "unresolvable-servers", "port-taken"])
def test_a_bad_start_is_one_clear_line_and_exit_code_2(flags, words):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        args = [flag.format(taken=taken.getsockname()[1]) for flag in flags]
        done = subprocess.run([sys.executable, "-m", "bff", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_job_progress_streams_over_real_http(gateway):
    _, url = gateway
    body, content_type = multipart({"style": TINY_STYLE},
                                   {"image": ("wide.png", encoded(gradient(1100, 600), "PNG"))})
    request = urllib.request.Request(url + "api/jobs", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 202
        job = json.load(resp)

    events = []
    with urllib.request.urlopen(url + job["events_url"].lstrip("/"), timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[-1] == "done" and events.count("progress") >= 2

    with urllib.request.urlopen(url + job["result_url"].lstrip("/"), timeout=10) as result:
        assert result.headers["Content-Type"] == "image/png"
        assert 'filename="wide-tiny-sepia.png"' in result.headers["Content-Disposition"]


@pytest.mark.serial  # serial pass of `make test`: stops within 5 s
def test_sigterm_stops_the_gateway(gateway):
    process, url = gateway
    with urllib.request.urlopen(url + "healthz", timeout=5) as resp:
        assert resp.status == 200
    started = time.monotonic()
    assert stop_process(process) == 0
    assert time.monotonic() - started < 5


def test_an_oversized_upload_gets_a_json_413_over_real_http(inference_server):
    process = spawn([sys.executable, "-m", "bff", "--port", "0", "--server", inference_server,
                     "--max-upload-mb", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", process.stdout.readline()).group(1)
        body, content_type = multipart({"style": TINY_STYLE}, {"image": ("big.png", b"\x89PNG" + bytes(3_000_000))})
        request = urllib.request.Request(url + "api/stylize", data=body, headers={"Content-Type": content_type})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=20)
        assert caught.value.code == 413
        assert caught.value.headers["Content-Type"] == "application/json"
        assert "Content-Security-Policy" in caught.value.headers
        assert json.load(caught.value)["message"]
    finally:
        stop_process(process)
        process.stdout.close()


@pytest.mark.parametrize("first, then", [
    (signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM),
    (signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGINT),
], ids=["sigterm-then-sigterms", "ctrl-c-then-sigterms", "sigterm-then-ctrl-cs", "ctrl-c-then-ctrl-cs"])
def test_a_burst_of_stop_signals_still_lets_the_gateway_finish_its_clean_up(inference_server, tmp_path, first, then):
    """The first SIGTERM or Ctrl-C starts the stop; the signals that follow (make run's SIGTERM after
    a Ctrl-C, an impatient supervisor's, a second Ctrl-C) must not cut the clean-up short (it logs
    "gateway stopped" when it is done)."""
    log_path = tmp_path / "gateway.log"
    # Started as from a terminal: a test run in the background (CI under nohup) ignores SIGINT, which its
    # children would inherit, and the gateway keeps an inherited ignore (the test after the next one).
    with log_path.open("w") as log, ctrl_c_disposition(signal.default_int_handler):
        process = spawn([sys.executable, "-m", "bff", "--port", "0", "--server", inference_server], cwd=ROOT,
                        stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert "Tessera gateway on" in process.stdout.readline()
        process.send_signal(first)
        for _ in range(40):
            process.send_signal(then)
            time.sleep(0.005)
        code = process.wait(30)
    finally:
        stop_process(process)
        process.stdout.close()
    assert code == 0, log_path.read_text()
    assert "gateway stopped" in log_path.read_text()


@pytest.mark.parametrize("first, then", [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT),
                                         (signal.SIGINT, signal.SIGINT)])
def test_only_the_first_stop_signal_raises_even_inside_the_clean_up_it_started(first, then):
    """The race the burst above hits only now and then (CI once saw exit 0 without "gateway
    stopped": a SIGTERM raised again inside the clean-up a Ctrl-C had started), made certain: the
    second signal arrives while the first one's SystemExit is being handled."""
    with ctrl_c_disposition(signal.default_int_handler):
        FirstStopSignal()
        with pytest.raises(SystemExit) as caught:
            os.kill(os.getpid(), first)
            time.sleep(1)  # the handler runs at the next bytecode; this is never reached
        assert caught.value.code == 0
        os.kill(os.getpid(), then)  # inside the clean-up: must not raise
        time.sleep(0.05)
        ignore_stop_signals()
        os.kill(os.getpid(), then)
        time.sleep(0.05)


def test_a_gateway_started_with_ctrl_c_ignored_keeps_ignoring_it():
    """A background job of a non-interactive shell starts with SIGINT ignored (Python keeps it so): a
    Ctrl-C meant for the shell's foreground job must not stop it."""
    with ctrl_c_disposition(signal.SIG_IGN):
        FirstStopSignal()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert isinstance(signal.getsignal(signal.SIGTERM), FirstStopSignal)


@contextmanager
def ctrl_c_disposition(handler) -> Iterator[None]:
    """SIGINT set to `handler` in this process while the block runs (a child started meanwhile gets
    SIG_DFL for a handler function, SIG_IGN for SIG_IGN); SIGINT's and SIGTERM's handlers restored after."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, handler)
        yield
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)
