"""The gateway after its inference server restarts: requests recover within about two seconds of the
server being back, and /healthz never says 200 while requests would still fail (it asks over the same
channel). A real server process is killed and started again on the same port."""

from __future__ import annotations

import signal
import time

import pytest

from bff import close_app
from scripts.local_stack import server_process
from tests.bff.live import closed_port_address, make_app

# Serial pass of `make test`: asserts requests recover within RECOVERY_BOUND_S.
pytestmark = pytest.mark.serial

DOWNTIME_S = 10.0  # long enough for gRPC's default backoff (1 s, x1.6 per attempt) to reach ~4-7 s
RECOVERY_BOUND_S = 2.5


def poll_until_styles_answer(client, limit_s: float) -> tuple[float, list[tuple[int, int]]]:
    """Asks /healthz, then /api/styles, every 50 ms until /api/styles answers 200; returns the seconds
    that took and every (health, styles) status pair seen."""
    started, seen = time.monotonic(), []
    while time.monotonic() - started < limit_s:
        pair = (client.get("/healthz").status_code, client.get("/api/styles").status_code)
        seen.append(pair)
        if pair[1] == 200:
            break
        time.sleep(0.05)
    return time.monotonic() - started, seen


def test_requests_recover_soon_after_a_server_restart_and_healthz_agrees(tiny_registry):
    address = closed_port_address()
    port = int(address.rpartition(":")[2])
    app = make_app(servers=(address,))
    client = app.test_client()
    try:
        with server_process(tiny_registry, port=port) as (process, _, _):
            assert client.get("/api/styles").status_code == 200
            process.send_signal(signal.SIGKILL)
            process.wait()
        down_until = time.monotonic() + DOWNTIME_S
        while time.monotonic() < down_until:  # the gateway keeps being asked while the server is gone
            assert client.get("/api/styles").status_code == 503
            assert client.get("/healthz").status_code == 503
            time.sleep(0.2)
        with server_process(tiny_registry, port=port):  # returns once the server answers SERVING
            took, seen = poll_until_styles_answer(client, limit_s=30)
            assert seen[-1][1] == 200, f"requests still failing after 30 s: {seen[-5:]}"
            assert took < RECOVERY_BOUND_S, f"requests took {took:.1f} s to recover"
            assert all(styles == 200 for health, styles in seen if health == 200), \
                f"/healthz said 200 while requests failed: {seen}"
            assert client.get("/healthz").status_code == 200
    finally:
        close_app(app)
