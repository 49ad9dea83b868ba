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
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LINUX = sys.platform.startswith("linux")


def spawn(args: Sequence[str], on_parent_death: signal.Signals = signal.SIGTERM, **popen: object) -> subprocess.Popen:
    """`subprocess.Popen(args, **popen)` whose child gets `on_parent_death` when this process dies
    (SIGTERM by default: Tessera's servers, gateway and worker stop cleanly on it; SIGINT stops a
    trainer, whose latest checkpoint holds its last finished step). The child's pid, streams,
    environment, working folder and signal dispositions are the command's own, as with Popen, and
    the returned process's `args` are `args`.

    Raises ValueError for an empty command, TypeError for a string (give a list, as without a shell)
    or for Popen's `shell` and `executable`, which a launcher cannot pass on; otherwise what Popen
    raises. A command that cannot be executed makes the child exit with 127."""
    if isinstance(args, (str, bytes)):
        raise TypeError("spawn takes the command as a list of arguments, not a string")
    if not args:
        raise ValueError("spawn needs a command to run")
    if popen.get("shell") or popen.get("executable"):
        raise TypeError("spawn cannot pass shell= or executable= on; give the command as a list")
    if not _LINUX:
        return subprocess.Popen(list(args), **popen)
    env = popen.get("env")
    had_lc_ctype = "LC_CTYPE" in (os.environ if env is None else env)
    launcher = [sys.executable, "-I", "-S", os.path.abspath(__file__), str(int(on_parent_death)), str(os.getpid()),
                "1" if had_lc_ctype else "0"]
    process = subprocess.Popen([*launcher, "--", *args], **popen)
    process.args = list(args)  # what error messages (TimeoutExpired, CalledProcessError) should name
    return process


def _launch(argv: list[str]) -> None:
    """The launcher: SIGNAL PARENT_PID HAD_LC_CTYPE -- COMMAND...; never returns."""
    number, parent, had_lc_ctype, command = int(argv[0]), int(argv[1]), argv[2] == "1", argv[4:]
    # Until the exec, the signal kills this launcher as it would the command (Python's SIGINT handler
    # would only raise, and an inherited mask could hold it back).
    signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, number, 0, 0, 0) != 0:
        _fail(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    # What Python changed at its start-up goes back as Popen leaves it: the signals it ignores (which
    # an exec keeps) and the locale variable it may set for itself (PEP 538).
    for restored in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(restored, signal.SIG_DFL)
    if not had_lc_ctype:
        os.environ.pop("LC_CTYPE", None)
    try:
        os.execvp(command[0], command)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in an argument
        _fail(f"cannot run {command[0]}: {getattr(error, 'strerror', None) or error}")


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    os._exit(127)


if __name__ == "__main__":
    _launch(sys.argv[1:])
