"""tessera.child_process: a child started with `spawn` receives its signal when its parent dies,
even by SIGKILL, and a child whose parent died before it asked stops at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tessera.child_process import die_with_parent, spawn

pytestmark = pytest.mark.skipif(die_with_parent(signal.SIGTERM) is None, reason="needs Linux's prctl")

# The child: records the signal it gets in a file, then exits; otherwise waits up to a minute.
CHILD = textwrap.dedent("""
    import signal, sys, time
    out = sys.argv[1]
    def record(number, frame):
        open(out, "w").write(signal.Signals(number).name)
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


def _kill_parent_and_see(tmp_path: Path, how: str) -> tuple[str | None, int]:
    """Start PARENT, SIGKILL it once its child is ready; what the child recorded within 20 s and its pid."""
    out = tmp_path / "signal"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(out), how],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.stdout.close()
    try:
        assert _wait_for(Path(f"{out}.ready")), "the child never started"
        parent.kill()
        parent.wait(10)
        return (out.read_text() if _wait_for(out) else None), child
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_spawned_child_gets_its_signal_when_its_parent_is_killed(tmp_path, how):
    recorded, _ = _kill_parent_and_see(tmp_path, how)
    assert recorded == how


def test_a_plain_popen_child_outlives_a_killed_parent(tmp_path):
    """The control: without `spawn` the child hears nothing, which is what `spawn` exists to change."""
    recorded, _ = _kill_parent_and_see(tmp_path, "popen")
    assert recorded is None


# The hook is made in one process and runs in the child of another (a fork of it), as when the parent
# dies between fork and prctl: the child must signal itself at once instead of running on.
ORPHAN = textwrap.dedent("""
    import os, signal, subprocess, sys
    from tessera.child_process import die_with_parent
    hook = die_with_parent(signal.SIGTERM)
    pid = os.fork()
    if pid == 0:
        code = subprocess.Popen(["sleep", "30"], preexec_fn=hook).wait(20)
        os._exit(0 if code == -signal.SIGTERM else 1)
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
""")


def test_a_child_whose_parent_died_before_it_asked_stops_at_once():
    done = subprocess.run([sys.executable, "-c", ORPHAN], cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert done.returncode == 0


def test_spawn_passes_popen_arguments_through(tmp_path):
    process = spawn([sys.executable, "-c", "import os; print(os.getcwd())"], cwd=tmp_path,
                    stdout=subprocess.PIPE, text=True)
    assert process.communicate(timeout=30)[0].strip() == str(tmp_path)
