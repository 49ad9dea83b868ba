"""A short run of `make fuzz` (scripts/fuzz.py), so it keeps working and a regression in what it
checks fails `make test`."""

from __future__ import annotations

from scripts import fuzz


def test_a_short_fuzz_run_finds_nothing_and_covers_every_target():
    report = fuzz.fuzz(examples=120, seed=1)
    assert report["failures"] == []
    assert {"StylizeTiles", "Stylize", "POST /api/stylize"} <= set(report["answers"])
    assert any(target.startswith("Admin.") for target in report["answers"])
