"""Child processes that stop when the process that started them dies, however it dies.

`make run`, the bench, the training scripts and the tests start servers, gateways, workers, trainers
and redis-server as children. When the parent is killed with SIGKILL (a CI job's timeout, an
out-of-memory kill, `kill -9`), none of its cleanup runs, and its children would live on, holding
ports, memory and CPU. A child started with `spawn` asks Linux to send it a signal the moment its
parent dies (prctl PR_SET_PDEATHSIG, man 2 prctl), before it runs the command; the signal survives
the exec. Elsewhere `spawn` is plain `subprocess.Popen`.

Two rules of PR_SET_PDEATHSIG hold here: the signal follows the parent *thread* that started the
child, so call `spawn` from a thread that lives as long as the child should (the main thread in all
of Tessera's callers); and a parent that died before the child asked is caught by comparing the
child's parent id with the one it was started from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _libc_prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved in the parent: the child between fork and exec should only call it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def die_with_parent(on_parent_death: signal.Signals) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `on_parent_death` when this process dies; None
    where Linux's prctl is not available (the child is then an ordinary one)."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    number = int(on_parent_death)

    def preexec() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, number, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), number)

    return preexec


def spawn(args: Sequence[str], on_parent_death: signal.Signals = signal.SIGTERM, **popen: object) -> subprocess.Popen:
    """`subprocess.Popen(args, **popen)` whose child gets `on_parent_death` when this process dies
    (SIGTERM by default: Tessera's servers, gateway and worker stop cleanly on it; SIGINT makes the
    trainer save a checkpoint first).

    Raises what Popen raises (OSError when the program cannot be started)."""
    return subprocess.Popen(list(args), preexec_fn=die_with_parent(on_parent_death), **popen)
