"""The C heap of this process (glibc malloc): hand freed memory back to the OS, and keep it from piling up.

Large images and model activations are allocated and freed in C (numpy, ONNX Runtime, Pillow).
glibc keeps freed blocks for reuse: in per-thread arenas, and on the heap below its dynamic mmap
threshold (which rises to 32 MB after the first large block is freed). Even above a fixed threshold,
a block is mmapped only when no free chunk of the heap fits it: under steady load, tile buffers and
model activations are cut from the heap's free space as well, and glibc by itself hands back only
the top of each heap, never the free chunks between live ones. A server that runs many models on
many threads then holds its peak for good unless it trims (HeapTrimmer). Elsewhere (musl, macOS)
these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time

# Under steady load, freed heap pages go back this often (HeapTrimmer; docs/serving.md, "Memory").
TRIM_SECONDS = 2.0
# Blocks this large or larger are mmapped when the heap has no free chunk for them. Tile buffers
# (a 1 MP tile's float input and output are about 12 MB each) stay below it, so the heap's warm
# pages serve them between trims; a whole large image goes to mmap and back to the OS when freed.
# At 1 MiB every tile buffer was mapped and faulted in afresh: 0.92x the speed through the client
# (docs/serving.md, "Memory").
MMAP_THRESHOLD = 32 << 20
# mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def release_freed_memory() -> None:
    """Return the C heap's free pages to the OS (glibc malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class HeapTrimmer:
    """Decides when this process hands freed heap pages back to the OS: whenever a queue runs dry, and
    under load that never lets a queue run dry, at least every `interval` seconds (0: only when a
    queue runs dry). One per process (malloc_trim covers every arena), shared by every batcher (and
    the gateway's pixel budget).

    Why both: glibc hands back only the top of a heap on its own; the free chunks between live ones
    stay resident until malloc_trim. Under steady load (8 soak clients: 1 trim in 10 minutes) they
    added up to the high-water mark of the heap's fragmentation, which kept rising (docs/serving.md,
    "Memory")."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def after_work(self, idle: bool) -> None:
        """Called after a piece of work (a batcher's runs, a gateway image); `idle`: none waits now."""
        now = time.monotonic()
        with self._lock:
            due = self.interval > 0 and now - self._last >= self.interval
            if not (idle or due):
                return
            self._last = now
        release_freed_memory()


def bound_heap(mmap_threshold: int = MMAP_THRESHOLD, arenas: int = 2) -> bool:
    """Serve blocks of `mmap_threshold` bytes or more by mmap when the heap has no free chunk for them
    (returned to the OS the moment they are freed, and the threshold no longer rises), and share
    `arenas` malloc arenas among all threads. Call it early, before worker threads start. A value the
    environment sets through glibc's own GLIBC_TUNABLES (glibc.malloc.mmap_threshold, .arena_max) is
    left as it is. Returns whether glibc took the settings."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    took = True
    if "glibc.malloc.mmap_threshold=" not in tunables:
        took = bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    if "glibc.malloc.arena_max=" not in tunables:
        took = bool(_LIBC.mallopt(_M_ARENA_MAX, arenas)) and took
    return took


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()
