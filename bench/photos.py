"""Trying many styles fast: a 12 MP photo uploaded once, then every style's preview, then the full
result at brush scale 1 and at the default scale, through a real gateway and inference server.

Each round uploads the photo afresh (a new id, so no thumbnail or preview is cached) and asks for the
featured previews (every fixed style and each conditioned style's first preset: what the page shows at
once) six at a time, as a browser does over HTTP/1.1; the clock runs from the upload's first byte to
the last preview's last byte. Then, once, every look (all presets too, which the page asks for only
when they are seen). Then the preview a strength move asks for: a style whose strength moves the
style code (`strength_mode` style_code) at a strength not asked before, alone, as the page asks for
the look being viewed 150 ms after the slider stops. And where the time goes: the thumbnail and each
featured preview alone, with the CPU seconds of the server and of the gateway. Besides the wall clock
each row gives the CPU seconds the server and gateway processes spent on it: on a shared machine the
wall clock follows the load, while CPU seconds over the cores is what an idle machine would need at
best. The full results are
interleaved within each round (bench.timing), so their ratio holds when the machine's load moves.

`python -m bench --only photos [--tiny]`; the JSON goes to bench/results/photos.json.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.paths import multipart
from bench.procfs import cpu_seconds
from bench.serving import newest_registry
from bench.timing import interleaved, median, paired_ratio
from scripts.local_stack import gateway_process, server_process

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "photos.json"
THREADS = 2  # the cores the CPU share is divided by; the server runs its default runners
# Connections a browser opens to one host over HTTP/1.1.
BROWSER_CONNECTIONS = 6


@dataclass(frozen=True)
class Plan:
    width: int = 4000
    height: int = 3000
    rounds: int = 3
    styles: tuple[str, ...] = ()  # () = every shipped style
    full_style: str = "umber-oil"
    every_look: bool = True
    warmup_runs: int = 5  # the server's warm-up of each version before it serves (its default)
    # Strengths a strength-preview round moves to, each new to the caches, as a slider is moved.
    strengths: tuple[str, ...] = ("0.5", "0.7", "0.3")


TINY = Plan(width=640, height=480, rounds=1, styles=("any-painting", "blue-ink"), full_style="blue-ink",
            every_look=False, warmup_runs=0, strengths=("0.5",))


def run(tiny: bool = False, rounds: int | None = None, results: Path | None = None) -> dict[str, list[dict]]:
    """The tables by title; also saved as JSON to `results` (bench/results/photos.json, or
    photos-tiny.json for the tiny version, which is not kept)."""
    results = results or (RESULTS.with_name("photos-tiny.json") if tiny else RESULTS)
    plan = TINY if tiny else Plan()
    if rounds:
        plan = Plan(**{**asdict(plan), "rounds": rounds})
    with tempfile.TemporaryDirectory(prefix="tessera-bench-photos-") as tmp:
        registry = newest_registry(Path(tmp) / "registry", plan.styles)
        tables = _measure(plan, registry)
    command = "python -m bench --only photos" + (" --tiny" if tiny else "")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"command": command, "date": datetime.date.today().isoformat(),
                                   "plan": asdict(plan), "tables": tables}, indent=2) + "\n")
    return tables


def photo_jpeg(width: int, height: int) -> bytes:
    """A photo-like JPEG: scikit-image's astronaut (public domain, NASA) enlarged, with sensor-like noise
    so that it decodes like a camera's file (about 1.5 bits per pixel), not like a flat test card."""
    from skimage import data as skdata

    base = Image.fromarray(skdata.astronaut()).resize((width, height), Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    pixels = np.asarray(base, dtype=np.int16)
    pixels = np.clip(pixels + rng.normal(0, 4, pixels.shape).astype(np.int16), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _measure(plan: Plan, registry: Path) -> dict[str, list[dict]]:
    jpeg = photo_jpeg(plan.width, plan.height)
    megapixels = plan.width * plan.height / 1e6
    with ExitStack() as stack:
        server, address, _ = stack.enter_context(server_process(registry, timeout=600, threads=0,
                                                                warmup_runs=plan.warmup_runs))
        gateway, base = stack.enter_context(gateway_process([address]))
        base = base.rstrip("/")
        pids = (server.pid, gateway.pid)
        _previews_once(base, jpeg, True, pids)  # warm: first runs of a session are slower
        preview_rows = [_previews_once(base, jpeg, True, pids) for _ in range(plan.rounds)]
        every = [_previews_once(base, jpeg, False, pids)] if plan.every_look else []
        strength_rows = [_strength_preview(base, jpeg, pids, plan.strengths) for _ in range(plan.rounds)]
        where = _one_at_a_time(base, jpeg, server.pid, gateway.pid)
        photo_id = _upload(base, jpeg)["id"]
        full = interleaved({"scale 1": _full_result(base, photo_id, plan.full_style, "1"),
                            "scale auto": _full_result(base, photo_id, plan.full_style, "auto")},
                           plan.rounds, warmup=0)
    previews = {
        f"Upload once + featured previews of a {megapixels:.1f} MP JPEG ({len(jpeg) / 1e6:.1f} MB), "
        f"{BROWSER_CONNECTIONS} at a time, per round": preview_rows + every,
        "Where a featured grid's time goes: the thumbnail, then each preview alone, once": where,
        "Preview at a new strength of a style_code style (the look being viewed, alone), per round":
            [row for row in strength_rows if row],
        f"Full result of {plan.full_style} on the same photo, {plan.rounds} interleaved rounds (medians)": [{
            "scale 1 s": median(full["scale 1"]), "scale auto s": median(full["scale auto"]),
            "auto working size": "x".join(str(s) for s in _working(plan)),
            "scale 1 / auto": paired_ratio(full["scale 1"], full["scale auto"])}],
    }
    return previews


def _working(plan: Plan) -> tuple[int, int]:
    from tessera.brush_scale import default_scale, working_size

    return working_size(plan.width, plan.height, default_scale(plan.width, plan.height))


def _upload(base: str, jpeg: bytes) -> dict:
    body, content_type = multipart({}, {"image": ("photo.jpg", jpeg)})
    request = urllib.request.Request(f"{base}/api/photos", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as resp:
        return json.load(resp)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=600) as resp:
        return resp.read()


def _previews_once(base: str, jpeg: bytes, featured_only: bool, pids: tuple[int, ...]) -> dict:
    cpu_before = cpu_seconds(*pids)
    started = time.perf_counter()
    photo = _upload(base, jpeg)
    uploaded = time.perf_counter()
    looks = json.loads(_get(base + photo["previews_url"]))["previews"]
    wanted = [look for look in looks if look["featured"] or not featured_only]
    arrivals: list[float] = []

    def fetch(look: dict) -> None:
        _get(base + look["url"])
        arrivals.append(time.perf_counter())

    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        list(pool.map(fetch, wanted))
    cpu = cpu_seconds(*pids) - cpu_before
    return {"looks": "featured" if featured_only else "every look", "previews": len(wanted),
            "upload s": uploaded - started, "first preview s": min(arrivals) - started,
            "all previews s": max(arrivals) - started, "cpu s": cpu, f"cpu s / {THREADS} cores": cpu / THREADS,
            "load avg": os.getloadavg()[0]}


def _one_at_a_time(base: str, jpeg: bytes, server_pid: int, gateway_pid: int) -> list[dict]:
    """CPU seconds of the server and the gateway, and the wall clock, for the photo's thumbnail (decoded
    once per photo) and then each featured preview asked for alone."""
    photo = _upload(base, jpeg)
    looks = [look for look in json.loads(_get(base + photo["previews_url"]))["previews"] if look["featured"]]
    rows = []
    for name, url in [("thumbnail", photo["thumbnail_url"])] + [(_look_name(x), x["url"]) for x in looks]:
        server, gateway, started = cpu_seconds(server_pid), cpu_seconds(gateway_pid), time.perf_counter()
        _get(base + url)
        rows.append({"look": name, "wall s": time.perf_counter() - started,
                     "server cpu s": cpu_seconds(server_pid) - server,
                     "gateway cpu s": cpu_seconds(gateway_pid) - gateway})
    return rows


def _look_name(look: dict) -> str:
    return f"{look['style']}: {look['preset']}" if look["preset"] else look["style"]


def _strength_preview(base: str, jpeg: bytes, pids: tuple[int, ...], strengths: tuple[str, ...]) -> dict:
    """Seconds from asking to the last byte of a preview at each of `strengths`, one after the other, for
    the first look whose strength moves the style code, after its strength-1 preview was made (as the
    page has it); {} when no served style has such a strength."""
    photo = _upload(base, jpeg)
    looks = json.loads(_get(base + photo["previews_url"]))["previews"]
    look = next((x for x in looks if x["featured"] and x["strength_mode"] == "style_code"), None)
    if look is None:
        return {}
    _get(base + look["url"])
    times, cpu_before = [], cpu_seconds(*pids)
    for strength in strengths:
        started = time.perf_counter()
        _get(f"{base}{look['url']}&strength={strength}")
        times.append(time.perf_counter() - started)
    return {"look": _look_name(look), "previews": len(times), "median s": median(times),
            "max s": max(times), "cpu s each": (cpu_seconds(*pids) - cpu_before) / len(times),
            "load avg": os.getloadavg()[0]}


def _full_result(base: str, photo_id: str, style: str, scale: str):
    body, content_type = multipart({"photo_id": photo_id, "style": style, "scale": scale}, {})

    def post() -> bytes:
        request = urllib.request.Request(f"{base}/api/stylize", data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=900) as resp:
            return resp.read()

    return post
