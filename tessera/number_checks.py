"""Numbers that callers and people give Tessera: one check per kind, used by the client library, the
CLI's flags and every process's settings (tessera.settings).

Each check refuses, with a ValueError naming the argument, what Python would otherwise let through
and the code below would then misuse: a bool (True is the int 1), NaN (every comparison with it is
false, so `not value < minimum` passes it) and the infinities (a deadline of `inf` seconds overflows
the clocks that threads and gRPC wait on). Seconds stop at MAX_SECONDS: 1e10 s, finite as it is, also
overflows a thread's wait, and gRPC ends a call whose deadline is that far at once.
"""

from __future__ import annotations

import math
import numbers

# The longest time any deadline, interval or limit may be, in seconds (about 116 days), also as a setting
# (tessera.settings): beyond it a value is a slip of the keyboard.
MAX_SECONDS = 1e7
# The largest finite 32-bit float: a number the wire carries as a proto `float` (a style source's
# weight) turns into an infinity beyond it, though it is finite in Python.
FLOAT32_MAX = 3.4028234663852886e38
# The largest number a proto `uint32` field carries (a version, a tile's edge): protobuf refuses a larger
# one with a bare "Value out of range" when the message is built.
UINT32_MAX = 2**32 - 1


def is_real(value: object) -> bool:
    """True for a finite int or float (numpy scalars included), False for a bool, NaN, an infinity or
    anything that is not a number."""
    # An int is finite however large; math.isfinite would raise OverflowError for one beyond a float's range.
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and (isinstance(value, numbers.Integral) or math.isfinite(value)))


def is_float32(value: object) -> bool:
    """is_real, and still finite as a 32-bit float: at most FLOAT32_MAX either side of 0."""
    return is_real(value) and abs(value) <= FLOAT32_MAX


def finite_float(text: str) -> float:
    """Text such as '2.5' or '1e-3' -> float; ValueError for text that is no number, 'nan' and 'inf'."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def positive_seconds(name: str, value: object) -> float:
    """`value` as float seconds when it is a number above 0 and at most MAX_SECONDS; ValueError naming
    `name` otherwise."""
    if not (is_real(value) and 0 < value <= MAX_SECONDS):
        raise ValueError(f"{name} must be positive seconds, at most {MAX_SECONDS:g}, got {value!r}")
    return float(value)


def optional_seconds(name: str, value: object) -> float | None:
    """None (no limit), or positive_seconds(name, value)."""
    return None if value is None else positive_seconds(name, value)


def fraction(name: str, value: object) -> float:
    """`value` as float when it is a number from 0 to 1; ValueError naming `name` otherwise."""
    if not (is_real(value) and 0 <= value <= 1):
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def whole_number(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """`value` when it is an int (not a bool) of at least `minimum` and, when given, at most `maximum`;
    ValueError naming `name` and the range otherwise."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
            and (maximum is None or value <= maximum)):
        span = f"from {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name} must be a whole number {span}, got {value!r}")
    return int(value)
