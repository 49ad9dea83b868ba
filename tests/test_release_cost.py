"""scripts/release_cost.py: what a release costs the next tile, as one JSON line."""

from __future__ import annotations

import json

import pytest

from scripts import release_cost
from scripts.local_stack import ROOT
from tests.support import TINY_STYLE

# Serial pass of `make test`: a benchmark tool: times runs warm and after a release.
pytestmark = [pytest.mark.timeout(120), pytest.mark.serial]


def test_it_prints_the_warm_and_after_release_medians_and_their_ratio(tiny_registry, capsys):
    assert release_cost.main([str(tiny_registry / TINY_STYLE / "1"), "--precision", "fp32", "--side", "64",
                              "--rounds", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["precision"] == "fp32" and line["side"] == 64
    assert line["warm_ms"] >= 0 and line["after_release_ms"] >= 0 and line["ratio"] > 0


def test_a_model_with_a_context_input_runs_with_a_context_row_of_its_width(capsys):
    """Vermilion v10 takes a [N, K] context (thumbnail statistics); the run feeds one of the model's own K."""
    assert release_cost.main([str(ROOT / "model_registry" / "vermilion" / "10"), "--precision", "fp32",
                              "--side", "64", "--rounds", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["ratio"] > 0
