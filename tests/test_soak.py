"""The 20-second version of `make soak` (scripts/soak.py): after a 30 s warm-up, 20 s of 8 clients
through the gateway and gRPC with no failed call, and the gateway's RSS within 5%.

The server's RSS is reported but not yet held to 5%: it still grows under steady load (issue 11,
item 3; docs/reliability.md), which `make soak` shows."""

from __future__ import annotations

from scripts import soak


def test_twenty_seconds_of_load_have_no_errors_and_stable_gateway_memory():
    report = soak.soak(duration=50, warmup=30)
    assert all(path["calls"] > 0 and path["errors"] == 0 for path in report["paths"].values()), report["paths"]
    assert report["rss"]["gateway"]["growth_after_warmup"] <= soak.MAX_RSS_GROWTH, report["rss"]
