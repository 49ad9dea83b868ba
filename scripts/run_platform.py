"""`make run`: start the inference server and the gateway on loopback, print the URL, and stop
both cleanly on Ctrl-C (or when either one exits)."""

from __future__ import annotations

import argparse
import signal
import sys

from scripts.local_stack import gateway_command, server_command, stop_process
from tessera.child_process import spawn
from tessera.stop_signal import StopSignal


def _port(off: bool = False):
    """An argparse type: a TCP port, 1 to 65535 (and -1 with `off`). Not 0: the gateway must be told the
    server's port, and the banner names every port, before the server has chosen one."""
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = 0
        if 1 <= number <= 65535 or (off and number == -1):
            return number
        raise argparse.ArgumentTypeError(
            f"a port is a number from 1 to 65535{' (or -1: off)' if off else ''}, got {text}; make run needs "
            "fixed ports, as the gateway is told the server's before it starts (pick free ones)")
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Tessera platform locally: the inference server "
                                                 "(with TESSERA_CPU_ENGINE and its other TESSERA_* settings from "
                                                 "the environment) and the gateway in front of it.")
    parser.add_argument("--registry", default="model_registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--server-port", type=_port(), default=50051, help="the server's gRPC port (1-65535)")
    parser.add_argument("--gateway-port", type=_port(), default=8080, help="the page's port (1-65535)")
    parser.add_argument("--metrics-port", type=_port(off=True), default=9464,
                        help="the server's /metrics port (1-65535); -1 turns it off")
    parser.add_argument("--admin-token-file", default="",
                        help="file holding the server's admin token (Admin RPCs stay off without one); "
                             "TESSERA_ADMIN_TOKEN in the environment works too")
    args = parser.parse_args(argv)
    server_address = f"{args.host}:{args.server_port}"
    stop = StopSignal()  # before the children start, so none is orphaned
    token = {"admin_token_file": args.admin_token_file} if args.admin_token_file else {}
    processes = [
        spawn(server_command(args.registry, host=args.host, port=args.server_port,
                             metrics_port=args.metrics_port, **token)),
        spawn(gateway_command([server_address], host=args.host, port=args.gateway_port)),
    ]
    metrics = "" if args.metrics_port == -1 else f", metrics on http://{args.host}:{args.metrics_port}/metrics"
    print(f"\nTessera is starting: open http://{args.host}:{args.gateway_port}/ in a browser "
          f"(gRPC on {server_address}{metrics}). Ctrl-C stops both.\n", flush=True)
    while not stop.wait(0.5):
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            print(f"a process exited with code {exited[0].returncode}; stopping the platform", file=sys.stderr)
            break
    for process in processes:  # both at once, so their grace periods overlap
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        stop_process(process)
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
