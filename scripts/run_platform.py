"""`make run`: start the inference server and the gateway on loopback, print the URL, and stop
both cleanly on Ctrl-C (or when either one exits)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time

PYTHON = sys.executable


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", *args])


def _stop(processes: list[subprocess.Popen], grace: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Tessera platform locally.")
    parser.add_argument("--registry", default="model_registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--server-port", type=int, default=50051)
    parser.add_argument("--gateway-port", type=int, default=8080)
    parser.add_argument("--metrics-port", type=int, default=9464)
    args = parser.parse_args(argv)
    server_address = f"{args.host}:{args.server_port}"
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the children start, so none is orphaned
        signal.signal(signum, lambda *_: stop.set())
    processes = [
        _start(["inference_server", "--registry", args.registry, "--host", args.host,
                "--port", str(args.server_port), "--metrics-port", str(args.metrics_port)]),
        _start(["bff", "--host", args.host, "--port", str(args.gateway_port), "--server", server_address]),
    ]
    print(f"\nTessera is starting: open http://{args.host}:{args.gateway_port}/ in a browser "
          f"(gRPC on {server_address}, metrics on http://{args.host}:{args.metrics_port}/metrics). "
          "Ctrl-C stops both.\n", flush=True)
    while not stop.wait(0.5):
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            print(f"a process exited with code {exited[0].returncode}; stopping the platform", file=sys.stderr)
            break
    _stop(processes)
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
