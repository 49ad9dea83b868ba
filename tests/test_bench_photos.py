"""`make bench`'s photos section, in its tiny version: upload, previews and both full results run
against real processes and the figures come out complete and sane (not fast: the load decides that)."""

import json
import math

import pytest

from bench import photos


@pytest.mark.serial  # serial pass of `make test`: a benchmark
def test_tiny_photos_bench_times_previews_and_both_scales(tmp_path):
    results = tmp_path / "photos.json"
    previews, where, strength, full = photos.run(tiny=True, results=results).values()
    assert [row["look"] for row in where] == ["thumbnail", "any-painting: ribbons", "blue-ink"]
    assert all(row["wall s"] > 0 and row["server cpu s"] >= 0 and row["gateway cpu s"] >= 0 for row in where)
    (row,) = previews
    assert row["previews"] == 2 and 0 < row["upload s"] < row["first preview s"] <= row["all previews s"]
    (moved,) = strength  # any-painting's strength moves its style code: each strength is a model run
    assert moved["look"].startswith("any-painting: ") and moved["previews"] == 1
    assert 0 < moved["median s"] <= moved["max s"] and moved["cpu s each"] > 0
    (times,) = full
    assert times["scale 1 s"] > 0 and times["scale auto s"] > 0 and math.isfinite(times["scale 1 / auto"])
    assert times["auto working size"] == "640x480"  # a photo below the default working side: full size
    assert json.loads(results.read_text())["command"] == "python -m bench --only photos --tiny"
