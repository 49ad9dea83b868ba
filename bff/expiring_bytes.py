"""When kept bytes that expire one by one leave room, and that wait in a Retry-After's whole seconds:
the one rule behind the Retry-After of a full photo store (bff.photos) and of a full result budget
(bff.jobs)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def room_at(holds: Iterable[tuple[float, int]], excess: int, now: float) -> float:
    """The time at which enough of `holds` ((expiry time, bytes) pairs, in any order) will have expired
    to free `excess` bytes; the last expiry when even all of them would not, `now` when there are none."""
    freed, at = 0, now
    for until, held in sorted(holds):
        freed, at = freed + held, until
        if freed >= excess:
            break
    return at


def whole_seconds(seconds: float) -> int:
    """A wait as the whole seconds of a Retry-After header: rounded up, so that a client waiting that long
    finds the room there, and at least 1, so that it never asks to be retried at once."""
    return max(1, math.ceil(seconds))
