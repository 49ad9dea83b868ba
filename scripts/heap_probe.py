"""Run the inference server with a thread that logs where its memory is, for memory investigations.

    python -m scripts.heap_probe --log heap.jsonl --every 5 -- --registry model_registry --port 0

Everything after `--` goes to `python -m inference_server`. Every `--every` seconds one JSON line is
appended to `--log`:
- `rss`, `anon`, `file`: resident MiB in all, in anonymous memory and in file-backed pages, and
  `heap_rss`: resident MiB of the mappings that hold glibc's arenas (the brk heap and the 64 MiB
  heaps of the other arenas) against `mmap_rss`, the other anonymous mappings (blocks glibc serves by
  mmap, ONNX Runtime's and Python's own mappings, thread stacks), all from /proc/self/smaps;
- from glibc's `malloc_info`: per arena, the bytes taken from the OS (`system`), the free bytes in
  its bins (`free`, resident or not), and the blocks served by mmap (`mmapped`, `mmap_count`);
- `trims`: how many times the server has called malloc_trim so far (tessera.heap).

`scripts.soak --heap-log FILE` starts its server this way. Linux with glibc only.

    python -m scripts.heap_probe --summary heap.jsonl --window 30

prints the medians of each window of a log as a table (one row per window).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import runpy
import statistics
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tessera import heap

_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
_ARENA_HEAP_BYTES = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: the non-main arenas' heaps


def _mappings() -> list[tuple[int, int, str, int, int]]:
    """(start, size, name, Rss kB, Anonymous kB) of each mapping in /proc/self/smaps."""
    rows = []
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if _MAPPING.match(line):
            fields = line.split()
            start, end = (int(v, 16) for v in fields[0].split("-"))
            rows.append([start, end - start, fields[5] if len(fields) > 5 else "", 0, 0])
        elif line.startswith("Rss:"):
            rows[-1][3] = int(line.split()[1])
        elif line.startswith("Anonymous:"):
            rows[-1][4] = int(line.split()[1])
    return [tuple(row) for row in rows]


def smaps_mib() -> dict[str, float]:
    """Resident MiB of this process by kind of mapping (see the module docstring)."""
    totals = dict.fromkeys(("rss", "anon", "file", "heap_rss", "mmap_rss"), 0.0)
    for start, size, name, rss, anon in _mappings():
        totals["rss"] += rss / 1024
        totals["anon"] += anon / 1024
        totals["file"] += (rss - anon) / 1024
        # A non-main arena's heap is mapped at 64 MiB alignment (its unused tail reserved, not resident).
        if name == "[heap]" or (not name and size <= _ARENA_HEAP_BYTES and start % _ARENA_HEAP_BYTES == 0):
            totals["heap_rss"] += anon / 1024
        elif not name or name.startswith("[anon"):
            totals["mmap_rss"] += anon / 1024
    return {k: round(v, 1) for k, v in totals.items()}


def malloc_info() -> dict:
    """glibc's malloc_info, summed: per-arena system and free MiB, and the mmapped blocks."""
    libc = ctypes.CDLL(None)
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    root = ET.fromstring(ctypes.string_at(buffer, size.value))
    libc.free(buffer)
    arenas = []
    for arena in root.findall("heap"):
        free = sum(int(t.get("size")) for t in arena.findall("total") if t.get("type") in ("fast", "rest"))
        system = int(arena.find("system[@type='current']").get("size"))
        arenas.append({"system": round(system / 2**20, 1), "free": round(free / 2**20, 1)})
    mmap = root.find("total[@type='mmap']")
    return {"arenas": arenas, "mmap_count": int(mmap.get("count")), "mmapped": round(int(mmap.get("size")) / 2**20, 1)}


def _instrument(counter: dict, start_sampler) -> None:
    """Wrap tessera.heap before the server imports it: count malloc_trim calls, and start the sampler
    only once the server has set its heap bounds (a thread that mallocs earlier would make glibc fix
    its arena limit before M_ARENA_MAX is set)."""
    counter["trims"] = 0
    release, bound = heap.release_freed_memory, heap.bound_heap

    def counted() -> None:
        counter["trims"] += 1
        release()

    def bound_then_sample(*args, **kwargs) -> bool:
        took = bound(*args, **kwargs)
        start_sampler()
        return took

    heap.release_freed_memory, heap.bound_heap = counted, bound_then_sample


def _sampler(log: Path, every: float, counter: dict) -> None:
    started = time.monotonic()
    while True:
        row = {"t": round(time.monotonic() - started, 1), **smaps_mib(), **malloc_info(), **counter,
               "threads": len(os.listdir("/proc/self/task"))}
        with open(log, "a") as out:
            out.write(json.dumps(row) + "\n")
        time.sleep(every)


def summary(log: Path, window: float) -> str:
    """A markdown table of a log's medians per `window` seconds (MiB; trims and threads at the window's end)."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for row in rows:
        row["arena_system"] = sum(a["system"] for a in row["arenas"])
        row["arena_free"] = sum(a["free"] for a in row["arenas"])
    columns = ["rss", "anon", "heap_rss", "mmap_rss", "file", "arena_system", "arena_free", "mmapped"]
    lines = ["| seconds | " + " | ".join(columns) + " | arenas | trims | threads |",
             "| --- " * (len(columns) + 4) + "|"]
    end = rows[-1]["t"]
    start = 0.0
    while start < end:
        part = [r for r in rows if start <= r["t"] < start + window]
        if part:
            medians = [statistics.median(r[c] for r in part) for c in columns]
            lines.append(f"| {start:.0f}-{start + window:.0f} | " + " | ".join(f"{m:.1f}" for m in medians)
                         + f" | {len(part[-1]['arenas'])} | {part[-1]['trims']} | {part[-1]['threads']} |")
        start += window
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--summary":
        window = float(argv[argv.index("--window") + 1]) if "--window" in argv else 30.0
        print(summary(Path(argv[1]), window))
        return
    ours, server_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "tessera-heap.jsonl")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args(ours)
    counter: dict = {}
    thread = threading.Thread(target=_sampler, args=(args.log, args.every, counter), name="heap-probe", daemon=True)
    _instrument(counter, thread.start)
    sys.argv = ["inference_server", *server_args]
    runpy.run_module("inference_server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
