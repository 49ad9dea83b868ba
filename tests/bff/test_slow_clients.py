"""Slow and greedy HTTP clients against a real waitress gateway: half-sent or trickling requests neither
lock others out nor stay forever, and one client's progress streams cannot use up everyone's."""

from __future__ import annotations

import socket
import time
import urllib.request
from contextlib import ExitStack

import pytest

from bff import close_app
from tests.bff.live import make_app, serving

# Serial pass of `make test`: idle/read timeouts: asserts when connections are closed.
pytestmark = pytest.mark.serial

HALF_SENT = b"POST /api/stylize HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1000000\r\n"  # headers never end


def half_open(url: str, count: int, stack: ExitStack, start: bytes = HALF_SENT) -> list[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = stack.enter_context(socket.create_connection((host, int(port)), timeout=5))
        sock.sendall(start)
        sockets.append(sock)
    return sockets


def test_many_half_open_connections_leave_healthz_answering(inference_server):
    app = make_app(servers=(inference_server,))
    try:
        with serving(app) as url, ExitStack() as stack:
            half_open(url, 150, stack)
            time.sleep(0.5)  # let the gateway accept them all
            started = time.monotonic()
            with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
                assert resp.status == 200
            assert time.monotonic() - started < 2.0
    finally:
        close_app(app)


def test_a_half_sent_request_is_closed_after_the_idle_timeout(inference_server):
    app = make_app(servers=(inference_server,), idle_connection_timeout_s=2)
    try:
        with serving(app) as url, ExitStack() as stack:
            (sock,) = half_open(url, 1, stack)
            sock.settimeout(10)
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the gateway, without an answer
            assert 1.5 < time.monotonic() - started < 6
    finally:
        close_app(app)


def test_a_request_whose_body_trickles_in_is_closed_after_the_read_limit(inference_server):
    # Ten bytes every 0.3 s keep the connection busy, so the idle timeout (20 s here) never closes it.
    app = make_app(servers=(inference_server,), request_read_seconds=2)
    try:
        with serving(app) as url, ExitStack() as stack:
            (sock,) = half_open(url, 1, stack, b"POST /api/stylize HTTP/1.1\r\nHost: gateway\r\n"
                                               b"Content-Length: 1000000\r\n\r\n")
            sock.settimeout(0.3)
            started = time.monotonic()
            while time.monotonic() - started < 15:
                try:
                    sock.sendall(b"x" * 10)
                    if sock.recv(1024) == b"":
                        break
                except TimeoutError:
                    continue
                except OSError:  # reset by the gateway
                    break
            assert 1.5 < time.monotonic() - started < 6
    finally:
        close_app(app)
