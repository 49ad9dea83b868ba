"""Gateway apps for tests, served over real HTTP with waitress in a thread on a free loopback port."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from waitress import wasyncore

from bff import create_app
from bff.config import GatewayConfig
from bff.waitress_settings import gateway_server


def make_app(**overrides) -> Flask:
    """A gateway app with test-sized deadlines; overrides are GatewayConfig fields. Close it with
    bff.close_app."""
    settings = {"rpc_timeout_s": 5.0, "stylize_timeout_s": 60.0, "styles_cache_s": 0.0, **overrides}
    return create_app(GatewayConfig(**settings))


@contextmanager
def serving(app: Flask, threads: int = 8) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT) while waitress serves `app`; stops it afterwards."""
    server = gateway_server(app, app.config["TESSERA"], host="127.0.0.1", port=0, threads=threads)
    stop = threading.Event()

    def run() -> None:
        # waitress's own run() only returns on KeyboardInterrupt; poll its loop so we can stop it.
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=run, name="test-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(5)
        for channel in list(server._map.values()):
            channel.close()
        server.task_dispatcher.shutdown()


def closed_port_address() -> str:
    """A loopback HOST:PORT that nothing listens on (the OS just handed it out and it was closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, for plain urllib requests."""
    boundary = "tessera-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_form(url: str, body: bytes, content_type: str, timeout: float = 30) -> tuple[int, dict]:
    """POSTs a multipart body to a full URL; returns (status, JSON answer), errors included."""
    status, answer = post_body(url, body, content_type, timeout)
    return status, json.loads(answer)


def post_body(url: str, body: bytes, content_type: str, timeout: float = 30) -> tuple[int, bytes]:
    """POSTs a body to a full URL; returns (status, the answer's bytes), errors included."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()
