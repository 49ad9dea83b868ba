"""scripts/graph_profile.py: ONNX Runtime's profile of a version's tile model, per operator and node."""

import json
from pathlib import Path

from scripts import graph_profile

VERSION = Path(__file__).resolve().parents[1] / "model_registry" / "blue-ink" / "9"


def test_the_profile_adds_up_to_the_runs_and_names_the_convolutions(capsys):
    assert graph_profile.main([str(VERSION), "--tile", "96x64", "--runs", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ms_per_run"] > 0
    assert abs(sum(result["op_share"].values()) - 1) < 0.01 and "Conv" in result["op_share"]
    assert any("/net/contract.0/conv" in node for node in result["slowest_nodes_ms"])


def test_a_bad_tile_or_folder_is_one_clear_line(tmp_path, capsys):
    assert graph_profile.main([str(VERSION), "--tile", "big"]) == 2
    assert capsys.readouterr().err.strip() == "error: --tile is WxH, e.g. 772x856, got 'big'"
    assert graph_profile.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
