"""Child processes that stop when the process that started them dies, however it dies.

`make run`, the bench, the training scripts and the tests start servers, gateways, workers, trainers
and redis-server as children. When the parent is killed with SIGKILL (a CI job's timeout, an
out-of-memory kill, `kill -9`), none of its cleanup runs, and its children would live on, holding
ports, memory and CPU. A child started with `spawn` first runs this file as a small launcher: it asks
Linux to send it a signal the moment its parent dies (prctl PR_SET_PDEATHSIG, man 2 prctl), checks
that the parent is still the one that started it, then replaces itself with the command (execvp;
the request survives the exec, and the pid stays the one `spawn` returned).

Why a launcher and not a `preexec_fn`: with one, Python forks through its at-fork hooks, which
gRPC uses, and in a parent with live channels a server child once failed to start ("Epoll1Poller
encountered epoll_wait error: Bad file descriptor"; not reproduced in 3 further tries). Without a
`preexec_fn` Python starts the child with vfork and runs no hooks. The launcher costs one short
interpreter start (no site packages).

The signal follows the parent *thread* that started the child, so call `spawn` from a thread that
lives as long as the child should (the main thread in all of Tessera's callers). Off Linux `spawn`
is plain `subprocess.Popen`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LINUX = sys.platform.startswith("linux")


def spawn(args: Sequence[str], on_parent_death: signal.Signals = signal.SIGTERM, **popen: object) -> subprocess.Popen:
    """`subprocess.Popen(args, **popen)` whose child gets `on_parent_death` when this process dies
    (SIGTERM by default: Tessera's servers, gateway and worker stop cleanly on it; SIGINT makes the
    trainer save a checkpoint first). The child's pid, streams, environment and working folder are
    the command's own, as with Popen.

    Raises what Popen raises; a command that cannot be executed makes the child exit with 127."""
    if not _LINUX:
        return subprocess.Popen(list(args), **popen)
    launcher = [sys.executable, "-I", "-S", os.path.abspath(__file__), str(int(on_parent_death)), str(os.getpid())]
    return subprocess.Popen([*launcher, "--", *args], **popen)


def _launch(argv: list[str]) -> None:
    """The launcher: SIGNAL PARENT_PID -- COMMAND...; never returns."""
    number, parent, command = int(argv[0]), int(argv[1]), argv[3:]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request took effect
        signal.signal(number, signal.SIG_DFL)  # Python's own SIGINT handler would only raise
        os.kill(os.getpid(), number)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"cannot run {command[0]}: {error.strerror}", file=sys.stderr)
        os._exit(127)


if __name__ == "__main__":
    _launch(sys.argv[1:])
