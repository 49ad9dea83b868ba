"""The C heap of this process (glibc malloc): hand freed memory back to the OS, and keep it from piling up.

Large images and model activations are allocated and freed in C (numpy, ONNX Runtime, Pillow).
glibc keeps freed blocks for reuse: in per-thread arenas, and on the heap below its dynamic mmap
threshold (which rises to 32 MB after the first large block is freed). A server that runs many
models on many threads then holds its peak for good. Elsewhere (musl, macOS) these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def release_freed_memory() -> None:
    """Return the C heap's free pages to the OS (glibc malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def bound_heap(mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Serve blocks of `mmap_threshold` bytes or more by mmap (returned to the OS the moment they are
    freed, and the threshold no longer rises), and share `arenas` malloc arenas among all threads.
    Call it early, before worker threads start. Returns whether glibc took both settings."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()
