"""How large a unary Stylize reply can get, known from the image's size before any work.

gRPC clients refuse a message above their receive limit (4 MiB by default: grpcurl, generated
stubs), with RESOURCE_EXHAUSTED, which Tessera's contract reserves for "busy, retry". So the server
refuses a request whose reply could exceed the client's limit, before decoding, with INVALID_ARGUMENT.

The bounds are worst cases of `tessera.imageio.encode_image` (uniform random noise, which no encoder
can shrink; tests/test_reply_size.py checks them against the real encoder, and
`python -m inference_server.reply_size` prints the measured sizes next to the bounds):
- PNG: the raw rows (3 bytes per pixel plus a filter byte per row) plus 0.1% and 4 KiB for zlib
  blocks and chunk headers (measured: 3.00 bytes per pixel, 6.48 MB for 1800x1200);
- JPEG and WebP: 1.5 bytes per pixel of the image padded to 16x16 blocks, plus 4 KiB of headers
  (measured on noise: JPEG 0.97-1.13, WebP 0.84-0.94 bytes per pixel; a 1 px wide image costs its
  whole 16 px wide blocks).
"""

from __future__ import annotations

# What generated stubs and grpcurl accept unless told otherwise.
DEFAULT_CLIENT_RECEIVE_BYTES = 4 * 1024 * 1024
# Protobuf framing and the reply's other fields (mime type, version).
REPLY_OVERHEAD_BYTES = 1024
_HEADERS = 4096


def max_encoded_bytes(fmt: str, width: int, height: int) -> int:
    """An upper bound of the bytes of a width x height RGB8 image encoded as 'png', 'jpeg' or 'webp'."""
    if fmt == "png":
        raw = height * (3 * width + 1)
        return raw + raw // 1000 + _HEADERS
    blocks = -(-width // 16) * -(-height // 16) * 256
    return int(1.5 * blocks) + _HEADERS


def reply_problem(fmt: str, width: int, height: int, client_limit: int, server_limit: int) -> str | None:
    """Why a reply could be too large for the client (or the server's own send limit), or None."""
    limit = min(client_limit or DEFAULT_CLIENT_RECEIVE_BYTES, server_limit)
    worst = max_encoded_bytes(fmt, width, height) + REPLY_OVERHEAD_BYTES
    if worst <= limit:
        return None
    whose = "this client's receive limit" if client_limit else "gRPC's default receive limit"
    return (f"the {fmt.upper()} reply for a {width}x{height} image can be up to {worst:,} bytes, more than "
            f"the {limit:,} bytes of {whose}; use StylizeTiles (tessera.client.TesseraClient.stylize) for "
            "images this large, choose a smaller output format, or set max_reply_bytes to your client's limit")


def _measure() -> None:
    """Print bytes per pixel of uniform noise as encode_image writes it, next to the bound."""
    import numpy as np

    from tessera.imageio import encode_image

    rng = np.random.default_rng(0)
    print("format  size        bytes      bytes/pixel  bound")
    for width, height in ((64, 64), (300, 200), (1000, 700), (1800, 1200), (1, 16000)):
        noise = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        for fmt in ("png", "jpeg", "webp"):
            size = len(encode_image(noise, fmt))
            print(f"{fmt:<7} {width}x{height:<8} {size:>10,} {size / (width * height):>12.3f}  "
                  f"{max_encoded_bytes(fmt, width, height):,}")


if __name__ == "__main__":
    _measure()
