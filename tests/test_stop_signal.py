"""tessera.stop_signal: a process whose main thread keeps polling while signals keep arriving stops
when told, instead of deadlocking in its own handler (the server, the job worker and `make run`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from scripts.local_stack import ROOT

# The main thread polls as fast as it can while another thread signals the process 20,000 times: a
# handler that took a lock the main thread can hold at that moment (Event.set inside Event.wait,
# the pattern this replaced) hangs within a few hundred signals.
_STORM = textwrap.dedent("""
    import os, signal, threading, time
    from tessera.stop_signal import StopSignal

    stop = StopSignal((signal.SIGUSR1,))
    seen = 0

    def storm():
        for _ in range(20_000):
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.00002)

    sender = threading.Thread(target=storm)
    sender.start()
    while sender.is_alive():
        if stop.wait(0):
            seen += 1
            stop.received = None
    print(seen)
""")


def test_a_storm_of_signals_while_the_main_thread_polls_never_hangs_it():
    done = subprocess.run([sys.executable, "-c", _STORM], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 0  # the handler ran and the main thread saw it


def test_a_signal_sets_the_flag_and_wait_reports_it():
    code = textwrap.dedent("""
        import os, signal
        from tessera.stop_signal import StopSignal
        stop = StopSignal((signal.SIGTERM,))
        assert not stop.is_set() and not stop.wait(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5) and stop.received == signal.SIGTERM
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
