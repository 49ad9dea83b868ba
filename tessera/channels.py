"""Opening a gRPC channel to Tessera servers: plaintext on loopback, TLS when given certificates to trust.

The client library, the admin client and the gateway's health check all open channels here, so a
TLS option reaches every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc


def read_ca(path: str | Path | None) -> bytes | None:
    """The PEM bytes of a CA file (None stays None); raises ValueError naming an unreadable file."""
    if path is None or path == "":
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the CA certificate file {path}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError(f"{path} holds no PEM certificate")
    return data


def open_channel(target: str, tls_ca: bytes | None = None,
                 options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
    """A channel to `target`: TLS trusting the PEM certificates `tls_ca` when given, plaintext otherwise."""
    if tls_ca is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=tls_ca), options=list(options))
