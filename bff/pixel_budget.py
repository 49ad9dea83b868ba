"""The gateway's budget of decoded pixels, shared by every job in the process.

An upload costs its file size while it waits; once decoded it costs about 15 bytes per pixel in
flight (the RGB8 photo, the tiles being sent, the result canvas, the encoded result), so a 143 kB
black 7000x7000 PNG becomes ~0.7 GB. Every job holds its image's pixel count from just before it
decodes until its result is encoded, and waits while the budget is spent: however many uploads arrive,
the decoded ones stay within the budget. An image larger than the whole budget runs alone.

When the last image is released, and every few seconds under load that never lets the count reach
zero, freed memory is handed back to the operating system (glibc keeps freed heap pages otherwise;
other C libraries are left alone: tessera/heap.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from bff.config import GatewayConfig
from tessera.heap import TRIM_SECONDS, HeapTrimmer

log = logging.getLogger(__name__)

EXTENSION = "tessera_pixel_budget"


class PixelBudget:
    """At most `max_pixels` decoded pixels at once across the process (an image larger than that alone)."""

    def __init__(self, max_pixels: int):
        if max_pixels < 1:
            raise ValueError(f"the pixel budget must be positive, got {max_pixels}")
        self.max_pixels = max_pixels
        self._in_use = 0
        self._holders = 0
        self._changed = threading.Condition()
        self._trimmer = HeapTrimmer(TRIM_SECONDS)

    @property
    def in_use(self) -> int:
        """Pixels held right now."""
        with self._changed:
            return self._in_use

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Blocks until `pixels` (capped at the whole budget) fit, and holds them for the block."""
        share = min(max(1, pixels), self.max_pixels)
        with self._changed:
            self._changed.wait_for(lambda: self._in_use + share <= self.max_pixels)
            self._in_use += share
            self._holders += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= share
                self._holders -= 1
                idle = self._holders == 0
                self._changed.notify_all()
            self._trimmer.after_work(idle)


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Creates the app's PixelBudget from the config."""
    app.extensions[EXTENSION] = PixelBudget(config.max_decoded_pixels)


def pixel_budget_of(app: Flask) -> PixelBudget:
    """The PixelBudget of `app`."""
    return app.extensions[EXTENSION]


def pixel_budget() -> PixelBudget:
    """The current app's PixelBudget."""
    return pixel_budget_of(current_app)
