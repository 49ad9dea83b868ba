"""Two checkouts' servers side by side: the same photo through each, interleaved, in one run.

    git worktree add /tmp/before COMMIT && (cd /tmp/before && python -m scripts.gen_proto)
    python -m scripts.server_ab --before /tmp/before --style blue-ink [--before-version 4] [--rounds 5]

Starts this checkout's server on its registry and the `--before` checkout's server on that one's,
each with its own default runtime threads (since the batcher's runners: one one-thread call per
core; before them, one call on every core), and times, round after round in turn (bench.timing.interleaved): raw
ONNX Runtime on the whole photo (the yardstick, this checkout's runtime class on the version the
`before` server serves), the Python client to the `before` server and to this one. The servers'
CPU seconds per call (user + system, from /proc) and their page faults are printed too: faults
show what fresh buffers cost. Each figure is a median; the ratios are taken within each round.
Needs Linux (/proc). Nothing is written.
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import ExitStack
from pathlib import Path

from bench import client_rss
from bench.paths import raw_path
from bench.procfs import cpu_seconds, minor_faults
from bench.timing import interleaved, paired_ratio
from scripts.local_stack import server_process
from tessera.client import TesseraClient
from tessera.registry import newest_version_dir

ROOT = Path(__file__).resolve().parents[1]
THREADS = 2  # the raw yardstick's intra-op threads; both servers run their own defaults


def _launcher(checkout: Path) -> tuple[str, ...]:
    """`python -m inference_server` importing from `checkout` before anything installed."""
    code = (f"import runpy, sys; sys.path.insert(0, {str(checkout)!r}); "
            "sys.argv[0] = 'inference_server'; runpy.run_module('inference_server', run_name='__main__')")
    return ("-c", code)


def _process_usage(pid: int) -> tuple[float, int]:
    """(user + system CPU seconds, minor page faults) of a process so far."""
    return cpu_seconds(pid), minor_faults(pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (with its protos generated)")
    parser.add_argument("--style", default="blue-ink")
    parser.add_argument("--before-version", type=int, help="version the before server serves (default: its newest)")
    parser.add_argument("--before-registry", type=Path, help="default: the before checkout's model_registry")
    parser.add_argument("--after-registry", type=Path, default=ROOT / "model_registry")
    parser.add_argument("--megapixels", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    before_registry = args.before_registry or args.before / "model_registry"
    before_dir = before_registry / args.style / str(args.before_version) if args.before_version \
        else newest_version_dir(before_registry / args.style)
    photo = client_rss.photo(args.megapixels)
    usage: dict[str, list[tuple[float, int]]] = {"before": [], "after": []}
    with ExitStack() as stack:
        servers = {
            "before": stack.enter_context(server_process(before_registry, launcher=_launcher(args.before.resolve()),
                                                         threads=0)),
            "after": stack.enter_context(server_process(args.after_registry, threads=0)),
        }
        clients = {name: stack.enter_context(TesseraClient(address, timeout=600))
                   for name, (_, address, _) in servers.items()}
        version = {"before": int(before_dir.name), "after": 0}

        def through(name: str):
            pid = servers[name][0].pid

            def call() -> None:
                start = _process_usage(pid)
                clients[name].stylize(photo, args.style, version=version[name])
                end = _process_usage(pid)
                usage[name].append((end[0] - start[0], end[1] - start[1]))
            return call

        raw = raw_path(before_dir, photo, THREADS)
        seconds = interleaved({"raw": raw, "before": through("before"), "after": through("after")},
                              args.rounds, warmup=2, alternate=True)
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    print(f"{args.style} on a {megapixels:.1f} MP photo, {args.rounds} interleaved rounds; raw = {before_dir}")
    for name in ("raw", "before", "after"):
        rounds = " ".join(f"{t:.2f}" for t in seconds[name])
        print(f"  {name:6s} {megapixels / statistics.median(seconds[name]):5.2f} MP/s (seconds per round: {rounds})")
    for name in ("before", "after"):
        counted = usage[name][-args.rounds:]
        ratio = paired_ratio(seconds["raw"], seconds[name])
        print(f"  {name}/raw {ratio:.3f}; server {statistics.median(u[0] for u in counted):.2f} CPU-s and "
              f"{statistics.median(u[1] for u in counted):,.0f} page faults per photo")
    after_vs_before = paired_ratio(seconds["before"], seconds["after"])
    print(f"  after/before (speed) {after_vs_before:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
