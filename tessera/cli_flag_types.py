"""The CLI's argparse types: each turns a flag's text into its value, or refuses it with one sentence
naming the flag's meaning and what was given (the checks themselves are tessera.number_checks)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tessera.brush_scale import check_scale
from tessera.number_checks import UINT32_MAX, finite_float, fraction, positive_seconds, whole_number
from tessera.style_sources import parse_mix, parse_preset
from tessera.tiling import MIN_TILE_SIZE


def flag_type(convert: Callable[[str], object], message: str) -> Callable[[str], object]:
    """An argparse type: `convert(text)`, whose ValueError becomes `message` formatted with the text."""
    def parse(text: str) -> object:
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(message.format(text)) from None
    return parse


def checked_text(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that keeps the flag's text once `check(text)` accepts it; the ValueError's own
    sentence is the error (so a bad --preset or --mix is a bad flag, exit status 2)."""
    def parse(text: str) -> str:
        try:
            check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    return parse


def whole_from(minimum: int, what: str, maximum: int | None = None) -> Callable[[str], object]:
    """An argparse type: a whole number of at least `minimum` and, when given, at most `maximum` (a
    flag whose value goes into a proto field is bounded by the field: UINT32_MAX); `what` names it in
    the error, with the range."""
    span = f"from {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    return flag_type(lambda text: whole_number(what, int(text), minimum, maximum),
                     f"{what} is a whole number {span}, got {{}}")


def _below_one(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{value} is not in [0, 1)")
    return value


strength = flag_type(lambda text: fraction("strength", finite_float(text)),
                     "strength must be between 0 and 1, got {}")
seconds = flag_type(lambda text: positive_seconds("seconds", finite_float(text)),
                    "seconds must be a number above 0, got {}")
# A version and a tile's edge travel in proto uint32 fields (StreamHeader.version, Tile.width...).
version = whole_from(1, "a version", UINT32_MAX)
tile_edge = whole_from(MIN_TILE_SIZE, "a tile edge", UINT32_MAX)
blend_weight = flag_type(lambda text: _below_one(finite_float(text)),
                         "the temporal blend must be at least 0 and below 1, got {}")
# --scale: a number in (0, 1], or 'auto' (None: tessera.brush_scale.default_scale per photo).
brush_scale = flag_type(lambda text: None if text == "auto" else check_scale(float(text)),
                        "scale must be a number in (0, 1] or 'auto', got {}")
# --preset ID[:WEIGHT] and --mix FILE[:SHARE]: their spelling and numbers; the files are read later.
preset = checked_text(parse_preset)
mix = checked_text(parse_mix)
