"""scripts/bf16_check.py's refusals: what it can tell before measuring anything (seconds, not minutes),
it tells in one line with exit code 1, and it never publishes a second copy of a centred version."""

from __future__ import annotations

import pytest

from scripts import bf16_check
from scripts.local_stack import ROOT

REGISTRY = str(ROOT / "model_registry")


@pytest.mark.parametrize(("args", "message"), [
    (["--style", "teacher26"], "no style 'teacher26' with versions in"),
    (["--style", "teacher-26", "--version", "99"], "teacher-26 has no version 99 (it has 1, 2, 3"),
    # teacher-26 v4 is v3 centred: centring it again, or centring v3 a second time, would duplicate it.
    (["--style", "teacher-26", "--version", "4", "--centre-stem"], "teacher-26 v4 is centred already"),
    (["--style", "teacher-26", "--version", "3", "--centre-stem"], "teacher-26 v4 is v3 centred already"),
    (["--style", "teacher-26", "--version", "5", "--centre-stem"], "teacher-26 v6 is v5 centred already"),
    (["--style", "teacher-26", "--version", "3", "--precision", "bf16-fp32-input"],
     "bf16-fp32-input is for centred stems, and teacher-26 v3 is not centred"),
    (["--style", "umber-oil", "--version", "11", "--precision", "bf16-fp32-stem", "--publish"],
     "umber-oil v11 already lists bf16-fp32-stem; nothing to publish"),
])
def test_what_needs_no_measuring_is_refused_at_once(args, message, capsys):
    assert bf16_check.main(["--registry", REGISTRY, *args]) == 1
    assert message in capsys.readouterr().err
