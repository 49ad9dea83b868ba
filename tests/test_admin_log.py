"""Admin calls as the server's log tells them: `tessera admin pin/unpin/rollback/reload` wrote no line, so an
operator could not tell who changed what serves. Each change, and each refused call, is now one line naming
the caller's address, the style, the version and the outcome; the token never appears."""

from __future__ import annotations

import re

import grpc
import pytest

from scripts.local_stack import server_process
from tessera.admin_client import AdminClient
from tessera.client import TesseraError
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc
from tests.support.tiny_model import write_tiny_version

STYLE = "logged"
TOKEN = "l0g-test-t0ken"
CALLER = r"by ipv4:127\.0\.0\.1:\d+"


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "registry"
    for seed in (0, 1):
        write_tiny_version(root, STYLE, tmp_path, seed=seed)
    return root


def _said(text: str, pattern: str) -> str:
    """The one line of the log `text` matching `pattern` (a regular expression)."""
    lines = [line for line in text.splitlines() if re.search(pattern, line)]
    assert len(lines) == 1, f"{pattern!r} matched {len(lines)} lines:\n{text}"
    return lines[0]


def test_every_admin_change_and_refusal_is_one_log_line_naming_the_caller(registry):
    with server_process(registry, admin_token=TOKEN, poll_interval=60) as (_, address, log), \
            AdminClient(address, TOKEN, timeout=30) as admin:
        admin.rollback(STYLE)
        admin.unpin(STYLE)
        admin.pin(STYLE, 1)
        admin.reload()
        with pytest.raises(TesseraError):
            admin.pin(STYLE, 9)
        with pytest.raises(TesseraError):
            admin.unpin("no-such-style")
        with AdminClient(address, "not-the-t0ken", timeout=30) as intruder, pytest.raises(TesseraError):
            intruder.pin(STYLE, 2)
        text = log.read_text()
    assert " INFO " in _said(text, rf"admin Rollback {CALLER}: style '{STYLE}': OK: pinned version 1; serving "
                                   r"version 1 \(it was serving version 2\)$")
    _said(text, rf"admin Unpin {CALLER}: style '{STYLE}': OK: no pin; serving version 2 \(it was serving version 1\)$")
    _said(text, rf"admin Pin {CALLER}: style '{STYLE}' version 1: OK: pinned version 1; serving version 1 \(it was "
                r"serving version 2\)$")
    _said(text, rf"admin Reload {CALLER}: OK: style {STYLE} serving version 1$")
    _said(text, rf"admin Pin {CALLER}: style '{STYLE}' version 9: FAILED_PRECONDITION: style {STYLE} cannot pin "
                "version 9: it is not in the registry$")
    _said(text, rf"admin Unpin {CALLER}: style 'no-such-style': NOT_FOUND: unknown style 'no-such-style'")
    assert " WARNING " in _said(text, rf"admin Pin {CALLER}: UNAUTHENTICATED: the token does not match$")
    assert TOKEN not in text and "not-the-t0ken" not in text


def test_an_admin_call_naming_no_style_is_invalid_argument_and_logged(registry):
    """An empty style was NOT_FOUND "unknown style ''", as if a style of that name were missing."""
    with server_process(registry, admin_token=TOKEN, poll_interval=60) as (_, address, log), \
            grpc.insecure_channel(address) as channel:
        admin = apb_grpc.AdminStub(channel)
        for call in ("Pin", "Unpin", "Rollback"):
            with pytest.raises(grpc.RpcError) as caught:
                getattr(admin, call)(getattr(apb, f"{call}Request")(style=""),
                                     metadata=[("authorization", f"Bearer {TOKEN}")], timeout=30)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, call
            assert caught.value.details().startswith("a style is required"), call
        text = log.read_text()
    for call in ("Pin", "Unpin", "Rollback"):
        _said(text, rf"admin {call} {CALLER}: style ''.*: INVALID_ARGUMENT: a style is required")
