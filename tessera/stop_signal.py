"""SIGTERM and SIGINT as a flag the main thread polls: for the inference server, the gateway's job
worker and `make run` (scripts/run_platform.py).

Python runs a signal handler on the main thread between two bytecodes, wherever that thread is. A
handler that calls `threading.Event.set()` takes the event's lock, and when the main thread is inside
`Event.wait()` on that same event it may hold the lock at that moment: the handler then waits for it
forever and the process never stops. A server child of `make run` was found so an hour after its
SIGTERM, its main thread in `Event.set` inside `Event.wait`. The handler here only assigns an
attribute, which takes no lock; the main thread sleeps between looks (`time.sleep` holds none either).
"""

from __future__ import annotations

import signal
import time
from typing import Protocol


class StopFlag(Protocol):
    """What start-up code reads to give up early: `threading.Event` or `StopSignal`."""

    def is_set(self) -> bool: ...


class StopSignal:
    """Installs handlers for `signals` (call it on the main thread); `is_set()` once one arrived."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.received: int | None = None
        for signum in signals:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    def is_set(self) -> bool:
        return self.received is not None

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless a signal came already; then whether one came. A signal that arrives
        during the sleep is seen when it ends (Python resumes an interrupted sleep, PEP 475)."""
        if not self.is_set():
            time.sleep(seconds)
        return self.is_set()
