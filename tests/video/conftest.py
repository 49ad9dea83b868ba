"""A server on a copy of one shipped compact style (it takes its statistics from a thumbnail)."""

import shutil
from pathlib import Path

import pytest

from scripts.local_stack import running_server

ROOT = Path(__file__).resolve().parents[2]
VIDEO_STYLE = "blue-swirls"


def copy_style(registry: Path, versions=(1,)) -> Path:
    """A registry holding the shipped style's style.json and the given versions."""
    source = ROOT / "model_registry" / VIDEO_STYLE
    (registry / VIDEO_STYLE).mkdir(parents=True)
    shutil.copy(source / "style.json", registry / VIDEO_STYLE / "style.json")
    for version in versions:
        shutil.copytree(source / str(version), registry / VIDEO_STYLE / str(version))
    return registry


@pytest.fixture(scope="package")
def video_server(tmp_path_factory):
    registry = copy_style(tmp_path_factory.mktemp("video-registry"))
    with running_server(registry, warmup_runs=0) as address:
        yield address
