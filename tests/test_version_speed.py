"""scripts/version_speed.py: raw, interleaved ONNX Runtime speed of registry versions (docs/styles.md)."""

import json
from pathlib import Path

import pytest

from scripts import version_speed

# Serial pass of `make test`: a benchmark tool: times versions over rounds.
pytestmark = pytest.mark.serial

REGISTRY = Path(__file__).resolve().parents[1] / "model_registry"


def test_each_version_is_timed_over_its_tiles_in_every_round(capsys):
    compact, cin = REGISTRY / "umber-oil" / "6", REGISTRY / "umber-oil" / "7"
    assert version_speed.main([str(compact), str(cin), "--size", "96x64", "--rounds", "2", "--tile", "32",
                               "--arrangement", "1x1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["version"], r["arrangement"]) for r in records] == [(str(compact), "1x1"), (str(cin), "1x1")]
    assert records[0]["ratio_to_first"] == 1.0 and all(len(r["seconds"]) == 2 for r in records)
    assert all(r["mp_per_s"] > 0 and r["halo"] == json.loads((Path(r["version"]) / "manifest.json").read_text())
               ["tiling"]["halo"] for r in records)


def test_a_folder_that_is_not_a_version_is_one_clear_line(tmp_path, capsys):
    assert version_speed.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: not a registry version folder") and len(err.strip().splitlines()) == 1


def test_arrangements_run_the_same_tiles_one_call_at_a_time_and_several_at_once(capsys):
    version = REGISTRY / "blue-ink" / "9"
    assert version_speed.main([str(version), "--size", "96x64", "--rounds", "1", "--tile", "32",
                               "--arrangement", "1x2", "--arrangement", "2x1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["version"], r["arrangement"]) for r in records] == [(str(version), "1x2"), (str(version), "2x1")]
    assert all(r["mp_per_s"] > 0 for r in records)


def test_a_bad_arrangement_is_one_clear_line(capsys):
    assert version_speed.main([str(REGISTRY / "blue-ink" / "9"), "--arrangement", "2by1"]) == 2
    assert capsys.readouterr().err.strip() == "error: an arrangement is RUNNERSxTHREADS, e.g. 2x1, got '2by1'"


def test_a_style_conditioned_version_is_timed_in_its_first_preset(capsys):
    version = REGISTRY / "any-painting" / "3"
    assert version_speed.main([str(version), "--size", "96x64", "--rounds", "1", "--tile", "32",
                               "--arrangement", "1x1"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["version"] == str(version) and record["mp_per_s"] > 0
