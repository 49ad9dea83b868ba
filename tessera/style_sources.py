"""The look a client asks a style-conditioned style for: presets and style images mixed by weight.

`StyleSource` is the client library's form of the wire message; `parse_mix` reads the CLI's
``FILE:WEIGHT`` spelling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from tessera.v1 import style_transfer_pb2 as pb


@dataclass(frozen=True)
class StyleSource:
    """A preset id or an encoded style image (PNG, JPEG or WebP bytes), with a weight >= 0."""

    preset: str = ""
    image: bytes = b""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if bool(self.preset) == bool(self.image):
            raise ValueError("a style source is either a preset id or a style image, not both or neither")
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"a style source's weight must be a number >= 0, got {self.weight}")

    def to_proto(self) -> pb.StyleSource:
        if self.preset:
            return pb.StyleSource(preset=self.preset, weight=self.weight)
        return pb.StyleSource(image=self.image, weight=self.weight)


def parse_mix(text: str) -> tuple[Path, float]:
    """``painting.jpg:0.3`` -> (Path('painting.jpg'), 0.3); a bare path weighs 1. ValueError otherwise."""
    path, sep, weight = text.rpartition(":")
    if not sep or not path:
        return Path(text), 1.0
    try:
        value = float(weight)
    except ValueError:
        return Path(text), 1.0  # a colon in the file name, no weight
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"the weight in {text!r} must be a number >= 0")
    return Path(path), value
