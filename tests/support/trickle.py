"""A raw HTTP/2 gRPC client that sends one request message a few bytes at a time (or stalls), which
no gRPC library can do: it shows what the server does with a slow or stalled upload."""

from __future__ import annotations

import socket
import time
import urllib.parse
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import h2.exceptions


@dataclass(frozen=True)
class Ending:
    """How the call ended: its gRPC status (None if it had not ended when the client gave up) and message."""

    status: int | None
    message: str
    seconds: float


def trickle(address: str, method: str, message: bytes, chunk: int, interval: float, give_up: float) -> Ending:
    """Call `method` ('/package.Service/Method') on HOST:PORT with one length-prefixed `message`, sending
    `chunk` bytes every `interval` seconds (chunk 0: only the prefix, then nothing), until the server
    ends the call or `give_up` seconds pass."""
    host, port = address.rsplit(":", 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    body = b"\x00" + len(message).to_bytes(4, "big") + message
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", method),
                                   (":authority", address), ("content-type", "application/grpc"), ("te", "trailers")])
        conn.send_data(stream, body[:5])
        sent = 5
        sock.sendall(conn.data_to_send())
        while time.monotonic() - started < give_up:
            ending = _read_for(sock, conn, interval, started)
            if ending is not None:
                return ending
            if chunk and sent < len(body):
                try:
                    conn.send_data(stream, body[sent:sent + chunk])
                except h2.exceptions.StreamClosedError:
                    continue
                sent += chunk
                sock.sendall(conn.data_to_send())
    return Ending(None, "", time.monotonic() - started)


def _read_for(sock: socket.socket, conn: h2.connection.H2Connection, seconds: float, started: float) -> Ending | None:
    """Read frames for `seconds`; the call's ending once its status (or a reset, or a closed socket) arrives."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        if not data:
            return Ending(-1, "connection closed", time.monotonic() - started)
        for event in conn.receive_data(data):
            headers = dict(getattr(event, "headers", None) or [])
            if "grpc-status" in headers:
                return Ending(int(headers["grpc-status"]), urllib.parse.unquote(headers.get("grpc-message", "")),
                              time.monotonic() - started)
            if isinstance(event, h2.events.StreamReset):
                return Ending(-1, f"stream reset (HTTP/2 error {event.error_code})", time.monotonic() - started)
        sock.sendall(conn.data_to_send())
    return None
