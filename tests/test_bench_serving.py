"""`make bench`'s serving section, in its tiny version: every path runs against real processes and
the figures it reports are complete and sane (not fast: this machine's load decides that)."""

import json
import math

import pytest

from bench import serving


@pytest.mark.serial  # serial pass of `make test`: a benchmark; peak RSS
def test_tiny_serving_bench_measures_every_path_and_saves_json(tmp_path):
    results = tmp_path / "serving.json"
    tables = serving.run(tiny=True, results=results)
    speed, bars, matmul, concurrency, rss = tables.values()

    style_row, peer_row = speed
    for column in ("raw MP/s", "client MP/s", "gateway MP/s", "cli MP/s", "client/raw", "gateway/raw", "cli/raw",
                   "raw/peer", "client/peer", "of matmul"):
        assert math.isfinite(style_row[column]) and style_row[column] > 0, column
    assert style_row["of matmul"] < 1.5  # a share of the machine's matmul rate, not a made-up number
    assert peer_row["raw MP/s"] > 0
    assert matmul[0]["GFLOP/s before"] > 0.1

    # One verdict per bar of the serving issue, from the same run's ratios.
    assert [b["at least"] for b in bars] == [0.85, 0.80, 0.70, 2.5]
    for bar, column in zip(bars, ("client/raw", "gateway/raw", "cli/raw", "client/peer"), strict=True):
        assert bar["worst"] == style_row[column] and bar["worst style"] == style_row["style"]
        assert bar["met"] == ("yes" if style_row[column] >= bar["at least"] else "no")

    assert {(r["clients"], r["server"]) for r in concurrency} == {
        (n, s) for n in serving.TINY.load_clients for s in ("batch up to 4, 2 ms", "batch 1")}
    assert all(r["errors"] == 0 and r["requests"] == r["clients"] and r["p99 s"] >= r["p50 s"] > 0
               for r in concurrency)

    (memory,) = rss
    assert memory["peak_rss_mb"] < memory["input_mb"] + memory["output_mb"] + 200

    saved = json.loads(results.read_text())
    assert saved["command"] == "python -m bench --only serving --tiny"
    assert saved["machine"]["cpus"] >= 1 and saved["machine"]["cpu"]
    assert saved["tables"] == json.loads(json.dumps(tables))
