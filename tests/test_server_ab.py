"""scripts/server_ab: two checkouts' servers compared in one run (here the same checkout twice)."""

import re
import shutil
from pathlib import Path

import pytest

from scripts import server_ab

# Serial pass of `make test`: a benchmark tool: times two checkouts' servers.
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[1]


def test_the_same_checkout_twice_gives_both_figures_and_the_ratios(capsys, tmp_path):
    registry = tmp_path / "registry"  # one shipped version: the servers start in seconds
    shutil.copytree(ROOT / "model_registry" / "blue-ink" / "5", registry / "blue-ink" / "5")
    assert server_ab.main(["--before", str(ROOT), "--before-registry", str(registry), "--after-registry",
                           str(registry), "--style", "blue-ink", "--megapixels", "0.05", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("raw", "before", "after"):
        assert re.search(rf"^  {name} +\d+\.\d\d MP/s \(seconds per round: \d+\.\d\d\)$", out, re.M), out
    faults = re.findall(r"^  (before|after)/raw (\d\.\d{3}); server (\d+\.\d\d) CPU-s and ([\d,]+) page faults", out,
                        re.M)
    assert [f[0] for f in faults] == ["before", "after"]
    assert all(0 < float(f[1]) and int(f[3].replace(",", "")) > 0 for f in faults), out
    assert re.search(r"after/before \(speed\) \d\.\d{3}$", out, re.M)
