"""The WxH convention of the scripts' size flags (``--size 2048x1536``, ``--tile 772x856``)."""

from __future__ import annotations


def parse_size(text: str) -> tuple[int, int]:
    """"WxH" (either case of x) -> (width, height) in px. Raises ValueError unless it is two integers."""
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height
