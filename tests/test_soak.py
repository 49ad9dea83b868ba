"""The 20-second version of `make soak` (scripts/soak.py): after a 30 s warm-up, 20 s of 8 clients
through the gateway and gRPC with no failed call, and the gateway's RSS within 5% (medians of the
last 10 s of the warm-up and of the run).

The server's RSS is reported but not held to 5% here: since it serves from one ONNX Runtime arena
released once every 5 s (5d286c6), its 10-s medians swing by about 20% either way within 20 s
(-20% and +19% in two runs on the same code, 2026-11-30), so a check this short would fail at
random. `make soak` (10 minutes) is the server's check; its 30-s windows still swing +-10% with the
arena, without drift. Before that arena, with the heap
trimmed only when a queue ran dry (1aeb4a4), the server grew +7.9% in these 20 s (327.5 -> 353.3
MB): docs/reliability.md, "Load and soak"."""

from __future__ import annotations

from scripts import soak


def test_twenty_seconds_of_load_have_no_errors_and_stable_gateway_memory():
    report = soak.soak(duration=50, warmup=30)
    assert all(path["calls"] > 0 and path["errors"] == 0 for path in report["paths"].values()), report["paths"]
    assert report["rss"]["gateway"]["growth_after_warmup"] <= soak.MAX_RSS_GROWTH, report["rss"]
