"""Session fixtures: a registry with a tiny real model, and a real server process on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.local_stack import running_server
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding one tile-safe style, TINY_STYLE, version 1."""
    root = tmp_path_factory.mktemp("registry")
    write_tiny_version(root, TINY_STYLE, tmp_path_factory.mktemp("export"))
    return root


@pytest.fixture(scope="session")
def inference_server(tiny_registry: Path) -> str:
    """Address (127.0.0.1:PORT) of a real inference server process serving `tiny_registry`."""
    with running_server(tiny_registry) as address:
        yield address
