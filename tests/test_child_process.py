"""tessera.child_process: a child started with `spawn` receives its signal when its parent dies,
even by SIGKILL; one whose parent died before it asked stops at once; and spawning works from a
process with live gRPC channels (with a `preexec_fn`, a server child once failed to start there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tessera.child_process
from scripts.local_stack import running_server
from tessera.child_process import spawn
from tessera.client import TesseraClient
from tests.support import TINY_STYLE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's prctl")
LAUNCHER = tessera.child_process.__file__
ROOT = Path(__file__).resolve().parents[1]

# The child: records the signal it gets in a file, then exits; otherwise waits up to a minute.
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    def record(number, frame):
        with open(out + ".part", "w") as f:
            f.write(signal.Signals(number).name)
        os.replace(out + ".part", out)  # whole, so the test never reads it half written
        sys.exit(0)
    signal.signal(signal.SIGTERM, record)
    signal.signal(signal.SIGINT, record)
    open(out + ".ready", "w").close()
    time.sleep(60)
""")

# The parent: starts the child with `spawn` (or plain Popen), prints the child's pid, then sleeps.
PARENT = textwrap.dedent("""
    import signal, subprocess, sys, time
    from tessera.child_process import spawn
    child, out, how = sys.argv[1], sys.argv[2], sys.argv[3]
    args = [sys.executable, "-c", child, out]
    process = subprocess.Popen(args) if how == "popen" else spawn(args, on_parent_death=signal.Signals[how])
    print(process.pid, flush=True)
    time.sleep(60)
""")


def _wait_for(path: Path, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def _kill_parent_and_see(tmp_path: Path, how: str, patience: float = 20.0) -> str | None:
    """Start PARENT, SIGKILL it once its child is ready; what the child recorded within `patience` s."""
    out = tmp_path / "signal"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(out), how], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.stdout.close()
    try:
        assert _wait_for(Path(f"{out}.ready")), "the child never started"
        parent.kill()
        parent.wait(10)
        return out.read_text() if _wait_for(out, patience) else None
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_spawned_child_gets_its_signal_when_its_parent_is_killed(tmp_path, how):
    assert _kill_parent_and_see(tmp_path, how) == how


def test_a_plain_popen_child_outlives_a_killed_parent(tmp_path):
    """The control: without `spawn` the child hears nothing, which is what `spawn` exists to change."""
    assert _kill_parent_and_see(tmp_path, "popen", patience=3.0) is None


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_child_whose_parent_died_before_it_asked_stops_at_once(number):
    # The launcher is told a parent that is not its own, as when the parent died before it started.
    done = subprocess.run([sys.executable, LAUNCHER, str(int(number)), "-1", "0", "--", "sleep", "30"], timeout=20)
    assert done.returncode == -number


def test_a_command_that_cannot_run_exits_127_with_a_sentence(tmp_path):
    process = spawn([str(tmp_path / "no-such-program")], stderr=subprocess.PIPE, text=True)
    err = process.communicate(timeout=30)[1]
    assert process.returncode == 127
    assert "cannot run" in err and "No such file or directory" in err


def test_spawn_keeps_the_pid_the_working_folder_and_the_environment(tmp_path):
    process = spawn([sys.executable, "-c", "import os; print(os.getpid(), os.getcwd(), os.environ['MARK'])"],
                    cwd=tmp_path, env={**os.environ, "MARK": "kept"}, stdout=subprocess.PIPE, text=True)
    assert process.communicate(timeout=30)[0].split() == [str(process.pid), str(tmp_path), "kept"]


def test_the_command_gets_popens_signal_dispositions_and_environment():
    show = ["sh", "-c", 'grep SigIgn /proc/self/status; echo "LC_CTYPE=${LC_CTYPE-unset}"']
    env = {"PATH": os.environ["PATH"]}
    spawned = spawn(show, env=env, stdout=subprocess.PIPE, text=True).communicate(timeout=30)[0]
    plain = subprocess.Popen(show, env=env, stdout=subprocess.PIPE, text=True).communicate(timeout=30)[0]
    assert spawned == plain and "LC_CTYPE=unset" in spawned


def test_spawn_names_the_command_and_refuses_what_it_cannot_pass_on():
    process = spawn(["true"])
    process.wait(30)
    assert process.args == ["true"]
    with pytest.raises(TypeError, match="list of arguments"):
        spawn("sleep 1")
    with pytest.raises(ValueError, match="needs a command"):
        spawn([])
    with pytest.raises(TypeError, match="shell"):
        spawn(["true"], shell=True)


def test_a_server_spawned_beside_live_grpc_channels_starts_and_serves(tiny_registry):
    """A smoke test: the failure a `preexec_fn` once caused here did not reproduce on demand."""
    pixels = np.full((24, 32, 3), 120, np.uint8)
    with running_server(tiny_registry) as first, TesseraClient(first, timeout=30) as client:
        client.stylize(pixels, TINY_STYLE)  # this process now has gRPC threads and an open channel
        with running_server(tiny_registry) as second, TesseraClient(second, timeout=30) as other:
            assert other.stylize(pixels, TINY_STYLE).image.shape == pixels.shape
