"""The CLI's argparse types: each turns a flag's text into its value, or refuses it with the one sentence
of its check, which names the bound the text broke (the checks themselves are tessera.number_checks);
each also says its range in help's words, from the same numbers."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tessera.brush_scale import check_scale
from tessera.number_checks import MAX_SECONDS, UINT32_MAX, fraction, is_real, positive_seconds, whole_number
from tessera.settings import bounds_text, number_text
from tessera.style_sources import parse_mix, parse_preset
from tessera.tiling import MIN_TILE_SIZE


class FlagType:
    """An argparse type: `convert(text)`, whose ValueError's own sentence is the refusal (a sentence
    written beside the check would not know every bound it has: `--max-seconds 1e12` was told "above
    0"); `bounds` is its range as help says it ("" for none)."""

    def __init__(self, convert: Callable[[str], object], bounds: str = "") -> None:
        self.convert, self.bounds = convert, bounds

    def __call__(self, text: str) -> object:
        try:
            return self.convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None


def checked_text(check: Callable[[str], object]) -> FlagType:
    """An argparse type that keeps the flag's text once `check(text)` accepts it (so a bad --preset or
    --mix is a bad flag, exit status 2)."""
    def keep(text: str) -> str:
        check(text)
        return text
    return FlagType(keep)


def _number(text: str) -> int | float | str:
    """The number in `text` (an int when it is whole, so that a check's sentence echoes "-3", not "-3.0"),
    or the text itself when it holds none, for the check to refuse in its own sentence (with the range),
    as it does NaN and the infinities."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def whole_from(minimum: int, what: str, maximum: int | None = None) -> FlagType:
    """An argparse type: a whole number of at least `minimum` and, when given, at most `maximum` (a
    flag whose value goes into a proto field is bounded by the field: UINT32_MAX); `what` names it in
    the error, with the range."""
    span = f"from {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def convert(text: str) -> int:
        try:
            return whole_number(what, int(text), minimum, maximum)
        except ValueError:  # int()'s "invalid literal for int() with base 10" or the range: both said here
            raise ValueError(f"{what} is a whole number {span}, got {text}") from None
    return FlagType(convert, bounds_text(minimum, maximum))


# What --temporal-blend takes, in its refusal and its help.
_BLEND_BOUNDS = "at least 0 and below 1"


def _blend_weight(text: str) -> float:
    value = _number(text)
    if not (is_real(value) and 0.0 <= value < 1.0):
        raise ValueError(f"the temporal blend must be {_BLEND_BOUNDS}, got {text}")
    return float(value)


def _brush_scale(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return check_scale(_number(text))
    except ValueError:  # check_scale's sentence knows no 'auto'
        raise ValueError(f"scale must be a number in (0, 1] or 'auto', got {text}") from None


strength = FlagType(lambda text: fraction("strength", _number(text)), bounds_text(0, 1))
# A clip's longest length: fraction's and positive_seconds' own sentences name their ranges.
seconds = FlagType(lambda text: positive_seconds("the longest clip", _number(text)),
                   f"more than 0 and at most {number_text(MAX_SECONDS)}")
# A version and a tile's edge travel in proto uint32 fields (StreamHeader.version, Tile.width...).
version = whole_from(1, "a version", UINT32_MAX)
tile_edge = whole_from(MIN_TILE_SIZE, "a tile edge", UINT32_MAX)
blend_weight = FlagType(_blend_weight, _BLEND_BOUNDS)
# --scale: a number in (0, 1], or 'auto' (None: tessera.brush_scale.default_scale per photo).
brush_scale = FlagType(_brush_scale, "more than 0 and at most 1")
# --preset ID[:WEIGHT] and --mix FILE[:SHARE]: their spelling and numbers; the files are read later.
preset = checked_text(parse_preset)
mix = checked_text(parse_mix)
