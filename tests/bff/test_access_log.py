"""The access log over real HTTP: one line per request, whatever its path holds. A path is the client's
own text, so a line break or a NUL in it must not write a second line, or a raw byte, into the log."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest

from tests.bff.live import serving

FORGED = "2026-12-04 18:00:00,000 INFO bff.access: FAKE LINE"


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        with err:
            return err.code


@pytest.mark.parametrize("sent, logged", [
    ("x%0A2026-12-04%2018:00:00,000%20INFO%20bff.access:%20FAKE%20LINE", f"x\\n{FORGED}"),
    ("x%0D%0A%1B[31mred", "x\\r\\n\\x1b[31mred"),
    ("x%00y", "x\\x00y"),
    ("x%E2%80%A8y", "x\\u2028y"),
    ("x%5Cny", "x\\\\ny"),
    ("umber-oil%20%C3%A9%20%E5%A4%8F%20'q'%25", "umber-oil é 夏 'q'%"),
], ids=["line-feed", "carriage-return-and-escape", "nul", "line-separator", "backslash", "printable-as-is"])
def test_a_path_is_logged_on_one_line_with_its_control_characters_escaped(app, caplog, sent, logged):
    caplog.set_level(logging.INFO, logger="bff.access")
    with serving(app) as base:
        assert get(f"{base}/api/styles/{sent}/preview.jpg") == 404
    lines = [record.getMessage() for record in caplog.records if record.name == "bff.access"]
    assert lines == [f"GET /api/styles/{logged}/preview.jpg 404 " + lines[0].rsplit(" 404 ", 1)[1]], lines
    assert all(c.isprintable() for c in lines[0])

