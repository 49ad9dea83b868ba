"""Video clips: throughput, flicker and a 10-second clip through the gateway, against real processes.

- Throughput: a 720p pan clip (scripts/make_clips.py) restyled by tessera.video (decode, frames in
  flight, encode, audio copied) against the same decoded frames restyled as still images by the same
  client with as many in flight; interleaved rounds, the ratio taken within a round (bench.timing).
- Client work: CPU milliseconds per 720p frame of each stage the client adds to a still image's
  restyle (decode, noise filter, shot histogram, flow-guided blend, encode), each timed alone.
- Flicker: the warping error (tessera.flicker, DIS flow) of the still, pan and moving clips restyled
  per frame, with statistics shared per shot, plus the noise filter, plus the flow-guided blending
  (tessera.video's default), and the input's own figure; for the default against per-frame also the
  warping error by Farneback's flow (not the DIS flow the blending steers by) and the flow-free
  static-region difference; for the still clip the plain mean difference of consecutive frames.
- Gateway: a 10-second 720p clip with audio posted to POST /api/jobs of a gateway process, followed
  to its end and downloaded; wall time, frames and whether the audio came back unchanged.

`python -m bench --only video [--tiny]`; the JSON goes to bench/results/video.json.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bench.paths import multipart
from bench.timing import interleaved, median, paired_ratio
from scripts.local_stack import gateway_process, running_server
from scripts.make_clips import make_clip
from tessera.client import TesseraClient
from tessera.flicker import frame_difference, static_difference, warping_error
from tessera.shots import ShotContext
from tessera.temporal_blend import TemporalBlend
from tessera.temporal_filter import TemporalDenoise
from tessera.video import FRAMES_IN_FLIGHT, ClipOptions, stylize_clip
from tessera.video_io import ClipWriter, open_clip

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "video.json"
PICTURES = {("any-painting", "moving"), ("blue-swirls", "pan")}  # frames saved for docs/video.md
SPEED_STYLE = "vermilion"
FLICKER_STYLES = ("vermilion", "blue-swirls", "any-painting")
# Restyling frames one by one; sharing the context statistics per shot; that plus the temporal noise
# reduction of the input; and that plus the flow-guided blending of outputs (tessera.video's default).
MODES = {"per-frame": ClipOptions(statistics="frame", denoise=False, temporal_blend=0),
         "shared": ClipOptions(statistics="shot", denoise=False, temporal_blend=0),
         "shared+denoise": ClipOptions(statistics="shot", denoise=True, temporal_blend=0),
         "default": ClipOptions()}
STEADIER = 0.95  # a stronger blend, tried on the still clip too


@dataclass(frozen=True)
class Plan:
    speed_size: tuple[int, int] = (1280, 720)
    speed_frames: int = 30
    rounds: int = 8  # after one untimed warm-up round, in alternating order (clip first, then stills first)
    flicker_size: tuple[int, int] = (480, 270)
    flicker_frames: int = 45
    gateway_size: tuple[int, int] = (1280, 720)
    gateway_seconds: int = 10
    fps: int = 30


TINY = Plan(speed_size=(160, 96), speed_frames=6, rounds=2, flicker_size=(96, 64), flicker_frames=4,
            gateway_size=(96, 64), gateway_seconds=1, fps=10)


def _frames(data: bytes) -> list:
    clip = open_clip(data)
    frames = [item for kind, item, _ in clip.items() if kind == "video"]
    clip.close()
    return frames


def _audio(data: bytes) -> list[bytes]:
    clip = open_clip(data)
    packets = [bytes(item) for kind, item, _ in clip.items() if kind == "audio"]
    clip.close()
    return packets


def throughput(client: TesseraClient, plan: Plan) -> list[dict]:
    width, height = plan.speed_size
    data = make_clip("pan", "mp4", width, height, plan.speed_frames, plan.fps)
    frames = _frames(data)
    cpu: dict[str, list[float]] = {"video": [], "stills": []}

    def as_video() -> None:
        started = time.process_time()
        stylize_clip(client, data, SPEED_STYLE)
        cpu["video"].append(time.process_time() - started)

    def as_stills() -> None:
        started = time.process_time()
        with ThreadPoolExecutor(FRAMES_IN_FLIGHT) as pool:
            list(pool.map(lambda rgb: client.stylize(rgb, SPEED_STYLE), frames))
        cpu["stills"].append(time.process_time() - started)

    loads = []
    seconds = interleaved({"load": lambda: loads.append(os.getloadavg()[0]), "video": as_video, "stills": as_stills},
                          rounds=plan.rounds, warmup=1, alternate=True)
    loads, cpu = loads[1:], {name: times[1:] for name, times in cpu.items()}  # the warm-up round's out
    count = len(frames)
    ratios = sorted(s / v for s, v in zip(seconds["stills"], seconds["video"], strict=True))
    return [{"clip": f"pan {width}x{height}, {count} frames", "style": SPEED_STYLE,
             "video fps": count / median(seconds["video"]), "still-image fps": count / median(seconds["stills"]),
             "ratio": paired_ratio(seconds["stills"], seconds["video"]),
             "ratios per round": [round(s / v, 3) for s, v in zip(seconds["stills"], seconds["video"], strict=True)],
             "ratio, middle half of rounds": [round(ratios[len(ratios) // 4], 3),
                                              round(ratios[-1 - len(ratios) // 4], 3)],
             "load average per round": [round(load, 1) for load in loads],
             "client CPU ms/frame, video": 1000 * median(cpu["video"]) / count,
             "client CPU ms/frame, stills": 1000 * median(cpu["stills"]) / count,
             "rounds": plan.rounds, "warm-up rounds": 1,
             "order": "clip first in rounds 1, 3, ..., stills first in 2, 4, ..."}]


def client_work(plan: Plan) -> list[dict]:
    """CPU ms per frame of each stage a clip adds on the client, timed alone on the throughput clip."""
    width, height = plan.speed_size
    count = min(plan.speed_frames, 12)
    data = make_clip("pan", "mp4", width, height, count, plan.fps)
    clip = open_clip(data)
    timed: dict[str, float] = {}

    def stage(name, work, items):
        started = time.process_time()
        out = [work(item) for item in items]
        timed[name] = 1000 * (time.process_time() - started) / len(items)
        return out

    decoded = stage("decode", lambda item: item, [(k, i, p) for k, i, p in clip.items()])
    frames = [item for kind, item, _ in decoded if kind == "video"]
    timed["decode"] *= len(decoded) / len(frames)
    denoise, shots, blend = TemporalDenoise(), ShotContext(), TemporalBlend()
    clean = stage("noise filter", denoise, frames)
    stage("shot histogram", shots.context_for, clean)
    stage("flow-guided blend", lambda rgb: blend(rgb, rgb), clean)
    writer = ClipWriter("mp4", clip.info, clip.time_base, None)
    stage("encode (libx264)", lambda rgb: writer.write_frame(rgb, None), frames)
    started = time.process_time()
    writer.close()
    timed["encode (libx264)"] += 1000 * (time.process_time() - started) / len(frames)
    clip.close()
    return [{"stage": name, "CPU ms per frame": ms, "frame": f"{width}x{height}"} for name, ms in timed.items()]


def _save_picture(path: Path, inputs: list, unblended: list, blended: list) -> None:
    """Frame 20 (or the last) side by side: input, shared statistics + noise filter, and the default."""
    from PIL import Image

    index = min(20, len(inputs) - 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = np.concatenate([inputs[index], unblended[index], blended[index]], axis=1)
    Image.fromarray(row).save(path, quality=90)


def flicker(client: TesseraClient, plan: Plan, pictures: Path | None = None) -> list[dict]:
    width, height = plan.flicker_size
    rows = []
    clips = {kind: make_clip(kind, "mp4", width, height, plan.flicker_frames, plan.fps)
             for kind in ("still", "pan", "moving")}
    for style in FLICKER_STYLES:
        for kind, data in clips.items():
            outputs = {}
            for mode, options in MODES.items():
                inputs, styled = [], []
                stylize_clip(client, data, style, options=options,
                             on_frame=lambda _, rgb, out, i=inputs, o=styled: (i.append(rgb), o.append(out)))
                outputs[mode] = (inputs, styled)
            inputs = outputs["per-frame"][0]
            errors = {mode: warping_error(inputs, styled) for mode, (_, styled) in outputs.items()}
            per_frame, default = outputs["per-frame"][1], outputs["default"][1]
            row = {"style": style, "clip": kind, "input": warping_error(inputs, inputs), **errors,
                   "shared / per-frame": errors["shared"] / errors["per-frame"],
                   "shared+denoise / per-frame": errors["shared+denoise"] / errors["per-frame"],
                   "default / per-frame": errors["default"] / errors["per-frame"],
                   "default / per-frame, Farneback flow":
                       warping_error(inputs, default, "farneback") / warping_error(inputs, per_frame, "farneback"),
                   "default / per-frame, static regions":
                       static_difference(inputs, default) / static_difference(inputs, per_frame)}
            if pictures is not None and (style, kind) in PICTURES:
                _save_picture(pictures / f"{kind}-{style}.jpg", inputs, outputs["shared+denoise"][1], default)
            if kind == "still":
                row.update({f"still diff: {mode}": frame_difference(styled) for mode, (_, styled) in outputs.items()})
                row["still diff: input"] = frame_difference(inputs)
                steadier = []
                stylize_clip(client, data, style, options=ClipOptions(temporal_blend=STEADIER),
                             on_frame=lambda _, rgb, out, o=steadier: o.append(out))
                row[f"still diff: blend {STEADIER}"] = frame_difference(steadier)
            rows.append(row)
    return rows


def through_gateway(address: str, plan: Plan) -> list[dict]:
    width, height = plan.gateway_size
    frames = plan.gateway_seconds * plan.fps
    data = make_clip("pan", "mp4", width, height, frames, plan.fps)
    body, content_type = multipart({"style": SPEED_STYLE}, {"image": ("pan.mp4", data)})
    with gateway_process([address], stylize_timeout=600) as (_, base):
        started = time.perf_counter()
        request = urllib.request.Request(f"{base}api/jobs", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=120) as reply:
            job = json.load(reply)
        while job["state"] not in ("done", "failed"):
            time.sleep(0.5)
            with urllib.request.urlopen(f"{base.rstrip('/')}{job['status_url']}", timeout=30) as reply:
                job = json.load(reply)
        if job["state"] != "done":
            raise RuntimeError(f"the clip job failed: {job}")
        with urllib.request.urlopen(f"{base.rstrip('/')}{job['result_url']}", timeout=120) as reply:
            result = reply.read()
        wall = time.perf_counter() - started
    return [{"clip": f"pan {width}x{height}, {plan.gateway_seconds} s at {plan.fps} fps, AAC audio",
             "upload MB": len(data) / 1e6, "style": SPEED_STYLE, "frames back": len(_frames(result)),
             "audio unchanged": _audio(result) == _audio(data), "wall s": wall, "fps": frames / wall}]


def run(tiny: bool = False, speed_only: bool = False, rounds: int = 0) -> dict[str, list[dict]]:
    """Every table (`speed_only`: the throughput and client-work tables alone, saved beside as
    video_speed.json); `rounds` of the throughput comparison (default the plan's); the JSON is
    written unless `tiny`."""
    plan = TINY if tiny else Plan()
    plan = replace(plan, rounds=rounds) if rounds else plan
    with tempfile.TemporaryDirectory(prefix="tessera-bench-video-") as tmp:
        registry = Path(tmp)
        for style in {SPEED_STYLE} if speed_only else {SPEED_STYLE, *FLICKER_STYLES}:
            shutil.copytree(ROOT / "model_registry" / style, registry / style)
        with running_server(registry, timeout=300, threads=0, warmup_runs=1) as address, \
                TesseraClient(address, timeout=600) as client:
            tables = {
                "Throughput: clip vs the same frames as still images (frames/s; target ratio >= 0.8)":
                    throughput(client, plan),
                "Client work per frame, each stage alone": client_work(plan),
            }
            if not speed_only:
                tables.update({
                    "Flicker: warping error in levels (target: <= 0.8 x per-frame; still clip < 1 level)":
                        flicker(client, plan, None if tiny else ROOT / "docs" / "video"),
                    "A clip through the gateway (POST /api/jobs to the downloaded result)":
                        through_gateway(address, plan),
                })
    if not tiny:
        path = RESULTS.with_name("video_speed.json") if speed_only else RESULTS
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                                    "plan": asdict(plan), "tables": tables}, indent=1) + "\n")
    return tables
