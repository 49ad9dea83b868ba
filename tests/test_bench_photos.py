"""`make bench`'s photos section, in its tiny version: upload, previews and both full results run
against real processes and the figures come out complete and sane (not fast: the load decides that)."""

import json
import math

from bench import photos


def test_tiny_photos_bench_times_previews_and_both_scales(tmp_path):
    results = tmp_path / "photos.json"
    previews, full = photos.run(tiny=True, results=results).values()
    (row,) = previews
    assert row["previews"] == 1 and 0 < row["upload s"] < row["first preview s"] <= row["all previews s"]
    (times,) = full
    assert times["scale 1 s"] > 0 and times["scale auto s"] > 0 and math.isfinite(times["scale 1 / auto"])
    assert times["auto working size"] == "640x480"  # a photo below the default working side: full size
    assert json.loads(results.read_text())["command"] == "python -m bench --only photos --tiny"
