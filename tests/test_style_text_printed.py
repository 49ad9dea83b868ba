"""`tessera styles` and `tessera admin` print what a server says about a style one line per style: a
display name "Line1\\nLine2\\x1b[31mRED" broke the table and sent the escape sequence to the terminal.
The registry refuses such text (tests/test_registry_names.py); the CLI escapes it too, whatever the
server (an older one, another registry)."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import replace

from tessera import cli
from tessera.style_facts import PresetFacts, StyleSummary, TilingFacts

RAW = StyleSummary(id="tiny", display_name="Line1\nLine2\x1b[31mRED", description="d", credits="", license="",
                   serving_version=1, available_versions=(1,), status="SERVING",
                   status_message="version 2 was rejected: loading failed unexpectedly: line one\r\nline two\u2028",
                   preview_jpeg=b"", pinned=False,
                   tiling=TilingFacts(16, 2, 512, 1024, "crop", False, 0, 1024, 1 << 20),
                   kind="conditioned", presets=(PresetFacts("a\x07", "A", b"", "", ""),))


class _Server:
    def list_styles(self):
        return [RAW, replace(RAW, id="plain", display_name="Plain – été", status_message="", presets=())]

    def status(self):
        return self.list_styles(), [("tiny", 2, "bad\nline")]


def test_styles_escapes_control_characters_and_line_breaks(capsys):
    assert cli._styles(_Server(), Namespace()) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out and "\x07" not in out
    lines = out.splitlines()
    assert lines[0].split() == ["tiny", "v1", "SERVING", "Line1\\nLine2\\x1b[31mRED", "(version", "2", "was",
                                "rejected:", "loading", "failed", "unexpectedly:", "line", "one\\r\\nline",
                                "two\\u2028)"]
    assert lines[1].strip() == "--preset: a\\x07"
    assert lines[2].split()[3:] == ["Plain", "–", "été"]  # printable text is left as it is
    assert len(lines) == 3


def test_admin_escapes_control_characters_and_line_breaks(capsys):
    assert cli._admin(_Server(), Namespace(action="status")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "\r" not in lines[0] and lines[0].endswith("line one\\r\\nline two\\u2028)")
    assert lines[2] == f"{'tiny':<24} v2 rejected: bad\\nline"
