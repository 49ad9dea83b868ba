"""`make train-defaults` skips a style whose run is complete and whose newest registry version came
from that run, as its docstring says; anything else (a new version from elsewhere, an unfinished
run) is trained or exported again. Training and export themselves are stood in for by a recorder:
running them takes minutes per style (their own tests are in tests/trainer/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import train_defaults
from trainer.runs import checkpoint_path

RECIPE = train_defaults.RECIPES[0]
STEPS = RECIPE.config["steps"]


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """Every stage build_style would run; an export adds the next version folder, as the real one does."""
    stages: list[str] = []
    registry = tmp_path / "registry"

    def fake_timed(cmd, log, stage, style, budget_s=0.0, **facts):
        stages.append(stage)
        if stage == "export":
            (registry / style / str(train_defaults.newest_version(registry, style) + 1)).mkdir(parents=True)
        return 0.0

    monkeypatch.setattr(train_defaults, "timed", fake_timed)
    (tmp_path / "runs").mkdir()  # main() makes it before building any style
    return stages, registry, tmp_path / "runs"


def finish(run: Path) -> None:
    path = checkpoint_path(run, str(STEPS))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"checkpoint")


def test_a_rerun_of_a_finished_and_exported_style_does_nothing(recorded):
    stages, registry, runs = recorded
    finish(runs / RECIPE.id)
    train_defaults.build_style(RECIPE, runs, registry)
    assert stages == ["evaluate", "export"] and train_defaults.newest_version(registry, RECIPE.id) == 1
    train_defaults.build_style(RECIPE, runs, registry)
    assert stages == ["evaluate", "export"]  # skipped: no second export, no version 2
    assert train_defaults.newest_version(registry, RECIPE.id) == 1


def test_a_newer_version_from_elsewhere_means_exporting_again(recorded):
    stages, registry, runs = recorded
    finish(runs / RECIPE.id)
    train_defaults.build_style(RECIPE, runs, registry)
    (registry / RECIPE.id / "2").mkdir()  # e.g. an import or a hand-made version
    train_defaults.build_style(RECIPE, runs, registry)
    assert stages == ["evaluate", "export"] * 2


def test_an_unfinished_run_trains_and_is_not_marked_shipped(recorded):
    stages, registry, runs = recorded
    train_defaults.build_style(RECIPE, runs, registry)
    assert stages == ["train", "evaluate", "export"]
    assert not (runs / RECIPE.id / train_defaults.EXPORTED).exists()
