"""The shipped styles and their presets are named for the people choosing them on the page: no numbers
for names ("Style 7") and none of the trainer's words ("teacher", "student", "network")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tessera.registry import version_dirs
from trainer.import_cin import MULTISTYLE26_NAMES

REGISTRY = Path(__file__).resolve().parents[1] / "model_registry"
JARGON = re.compile(r"\b(teacher|student|network|critic|grad-?cam|multistyle)", re.IGNORECASE)
STYLES = sorted(path.parent.name for path in REGISTRY.glob("*/style.json"))


def versions(style: str) -> list[Path]:
    """The style's version folders, oldest first."""
    return [folder for _, folder in sorted(version_dirs(REGISTRY / style).items())]


@pytest.mark.parametrize("style", STYLES)
def test_a_shipped_style_is_named_and_described_in_plain_words(style):
    meta = json.loads((REGISTRY / style / "style.json").read_text())
    assert not JARGON.search(meta["display_name"]), meta["display_name"]
    assert not JARGON.search(meta["description"]), meta["description"]


@pytest.mark.parametrize("style", STYLES)
def test_every_preset_of_a_style_s_newest_version_has_a_real_name(style):
    # The newest version is the one that serves; older ones are immutable history (teacher-26 1 and 2
    # still say "Style 0" to "Style 25"), shown only when an operator rolls back.
    version = versions(style)[-1]
    presets = json.loads((version / "manifest.json").read_text()).get("presets", [])
    names = [preset["name"] for preset in presets]
    assert not [n for n in names if re.fullmatch(r"(Style|Preset) ?\d+", n) or JARGON.search(n)], version
    assert len(set(names)) == len(names), version


def test_the_26_style_importer_names_its_presets_as_shipped():
    newest = versions("teacher-26")[-1]
    shipped = [p["name"] for p in json.loads((newest / "manifest.json").read_text())["presets"]]
    assert shipped == list(MULTISTYLE26_NAMES)
