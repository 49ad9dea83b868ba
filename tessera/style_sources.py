"""The look a client asks a style-conditioned style for: presets and style images mixed by weight.

`StyleSource` is the client library's form of the wire message (weights are relative: the server
normalises them to sum to 1); `parse_preset` and `parse_mix` read the CLI's ``ID:WEIGHT`` and
``FILE:SHARE`` spellings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.number_checks import FLOAT32_MAX, fraction, is_float32
from tessera.v1 import style_transfer_pb2 as pb


@dataclass(frozen=True)
class StyleSource:
    """A preset id or an encoded style image (PNG, JPEG or WebP bytes), with a weight >= 0 that the
    wire's 32-bit float holds (at most FLOAT32_MAX). ValueError, at construction, for anything else."""

    preset: str = ""
    image: bytes = b""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.preset, str):
            raise ValueError(f"a style source's preset must be a preset id (str), got {self.preset!r}")
        if not isinstance(self.image, bytes):
            raise ValueError(f"a style source's image must be the bytes of an encoded image, got "
                             f"{type(self.image).__name__}")
        if bool(self.preset) == bool(self.image):
            raise ValueError("a style source is either a preset id or a style image, not both or neither")
        # The wire carries the weight as a 32-bit float: 1e308 would arrive as an infinity, refused then.
        if not is_float32(self.weight) or self.weight < 0:
            raise ValueError(f"a style source's weight must be a number >= 0 and at most {FLOAT32_MAX:.4g} "
                             f"(a 32-bit float), got {self.weight!r}")

    def to_proto(self) -> pb.StyleSource:
        if self.preset:
            return pb.StyleSource(preset=self.preset, weight=self.weight)
        return pb.StyleSource(image=self.image, weight=self.weight)


# The largest style image the server decodes (and the gateway checks before it): the encoder only
# ever sees a centred square of 256 px, so a few MP is plenty.
MAX_STYLE_IMAGE_PIXELS = 40_000_000
# The most style sources one call may mix (the server refuses more: inference_server.conditioning).
MAX_SOURCES = 8
MIX_SHARE = 0.5  # a mixed-in style's share when none is given, as REST's ``mix`` and the page's slider


def parse_preset(text: str) -> StyleSource:
    """``ribbons:0.5`` -> StyleSource(preset='ribbons', weight=0.5): a preset id and its relative weight
    (default 1), the CLI's ``--preset ID[:WEIGHT]``. ValueError naming `text` for a missing id or a
    weight that is not a number >= 0 the wire holds."""
    preset, _, weight = text.partition(":")
    if not preset:
        raise ValueError(f"--preset {text!r} names no preset id")
    try:
        value = float(weight) if weight else 1.0
    except ValueError:
        raise ValueError(f"the weight in --preset {text!r} must be a number, got {weight!r}") from None
    try:
        return StyleSource(preset=preset, weight=value)
    except ValueError as exc:  # its own sentence names the bounds (a 32-bit float's largest too)
        raise ValueError(f"--preset {text!r}: {exc}") from None


def parse_mix(text: str) -> tuple[Path, float]:
    """``painting.jpg:0.3`` -> (Path('painting.jpg'), 0.3): the image and its share of the mix, from 0 to
    1; a bare path takes ``MIX_SHARE``, and so does a path whose text after the last colon is not a
    number (a colon in the file name). ValueError for a share outside 0..1, or `text` that is no str."""
    if not isinstance(text, str):
        raise ValueError(f"a mix must be text such as 'painting.jpg:0.3', got {text!r}")
    path, sep, share = text.rpartition(":")
    if not sep or not path:
        return Path(text), MIX_SHARE
    try:
        value = float(share)
    except ValueError:
        return Path(text), MIX_SHARE  # a colon in the file name, no share
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"the share in {text!r} must be a number from 0 to 1")
    return Path(path), value


def mix_in(base: Sequence[StyleSource], mixes: Sequence[tuple[StyleSource, float]], what: str = "mix"
           ) -> list[StyleSource]:
    """``base`` (relative weights) with each ``(source, share)`` of ``mixes`` taking ``share`` (0 to 1) of
    the whole mix, and ``base`` sharing what the mixes leave by its weights: the share convention of
    REST's ``mix``, the page's slider and the CLI's ``--mix``, in the relative weights the wire carries.
    ValueError when a share is not a number from 0 to 1, or the shares add up to more than 1 (``what``
    names them in the message)."""
    base = style_source_list("base", base)
    if isinstance(mixes, (str, bytes)) or not isinstance(mixes, Iterable):
        raise ValueError(f"mixes must be a list of (StyleSource, share) pairs, got {mixes!r}")
    mixes = list(mixes)
    for mix in mixes:
        if not (isinstance(mix, (tuple, list)) and len(mix) == 2 and isinstance(mix[0], StyleSource)):
            raise ValueError(f"each {what} must be a (StyleSource, share) pair, got {mix!r}")
        fraction(f"the {what} share", mix[1])
    rest = 1.0 - sum(share for _, share in mixes)
    if rest < -1e-9:
        raise ValueError(f"the {what} shares add up to {1.0 - rest:g}; together they can be at most 1")
    total = sum(source.weight for source in base) or 1.0
    return ([dataclasses.replace(s, weight=max(0.0, rest) * s.weight / total) for s in base]
            + [dataclasses.replace(source, weight=share) for source, share in mixes])


def style_source_list(name: str, sources: object) -> tuple[StyleSource, ...]:
    """`sources` (any iterable of StyleSource; a str is none) as a tuple; ValueError naming `name` otherwise."""
    if isinstance(sources, (str, bytes, StyleSource)) or not isinstance(sources, Iterable):
        raise ValueError(f"{name} must be a list of StyleSource (tessera.style_sources), got {sources!r}")
    sources = tuple(sources)
    for source in sources:
        if not isinstance(source, StyleSource):
            raise ValueError(f"{name} must be a list of StyleSource (tessera.style_sources), got an item {source!r}")
    return sources


def check_mix(name: str, sources: Sequence[StyleSource]) -> None:
    """ValueError naming `name` for a mix the server refuses (inference_server.conditioning): more than
    MAX_SOURCES style sources, or weights that are all 0 as the wire's 32-bit floats carry them (1e-50 is 0)."""
    if len(sources) > MAX_SOURCES:
        raise ValueError(f"{name}: at most {MAX_SOURCES} style sources can be mixed, got {len(sources)}")
    if sources and sum(float(np.float32(source.weight)) for source in sources) <= 0:
        raise ValueError(f"{name}: the style sources' weights must not all be 0")
