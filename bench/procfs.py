"""What the kernel counts for a running process (Linux /proc/PID/stat): CPU time and page faults.

The benchmarks, the speed scripts and the tests that bound a server's idle work all read these the
same way, from outside the process and without stopping it.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): fields 3 onwards of proc(5)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(*pids: int) -> float:
    """User plus system CPU seconds the processes have used so far, summed."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def is_running(pid: int) -> bool:
    """Whether the process exists and has not exited: a zombie (state Z, exited but not yet reaped by
    its parent) counts as stopped."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def minor_faults(pid: int) -> int:
    """Page faults served without disk so far (minflt, field 10 of stat): fresh pages the process touched."""
    return int(_stat_fields(pid)[7])
