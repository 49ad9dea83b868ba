"""`tessera ... | head -1`: when stdout's reader goes away, every command that prints ends quietly with
status 141 (128 + SIGPIPE, what a shell reports for `cat` or `ls` in the same place), never with
"tessera: [Errno 32] Broken pipe" or Python's "Exception ignored ... BrokenPipeError"."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.support import TINY_STYLE


def _with_stdout_closed(*args: str, unbuffered: bool) -> subprocess.CompletedProcess:
    """The CLI with its stdout a pipe nobody reads any more (its reader closed before the start). Buffered,
    Python writes at the end; unbuffered (PYTHONUNBUFFERED=1), at every print."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"} if unbuffered else {
        k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        return subprocess.run([sys.executable, "-m", "tessera.cli", *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=300, env=env)
    finally:
        os.close(write)


@pytest.fixture
def admin_server(tiny_registry):
    from scripts.local_stack import running_server

    with running_server(tiny_registry, admin_token="t0ken") as address:
        yield address


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("command", ["styles", "stylize", "stylize-folder", "admin", "help"])
def test_a_closed_stdout_ends_every_command_quietly_with_status_141(request, tmp_path, command, unbuffered):
    """Before, `tessera styles | head -1` printed "tessera: [Errno 32] Broken pipe" and exited 1."""
    server = request.getfixturevalue("admin_server" if command == "admin" else "inference_server")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (24, 16), (200, 120, 40)).save(photos / name)
    words = {"styles": ["styles", "--server", server],
             "stylize": ["stylize", str(photos / "a.png"), "-o", str(tmp_path / "o.png"), "--style", TINY_STYLE,
                         "--server", server],
             "stylize-folder": ["stylize", str(photos), "-o", str(tmp_path / "out"), "--style", TINY_STYLE,
                                "--server", server],
             "admin": ["admin", "status", "--server", server, "--token", "t0ken"],
             "help": ["stylize", "--help"]}[command]
    result = _with_stdout_closed(*words, unbuffered=unbuffered)
    # Unbuffered, argparse drops its own failed write of the help and ends 0: quietly too.
    status = 0 if command == "help" and unbuffered else 141
    assert (result.returncode, result.stderr) == (status, "")
