"""One style version: validated before it may serve, then run through its batcher.

`load_version` checks everything DESIGN.md §1 asks (manifest, checksums, loadability, the I/O
convention, a finite probe) and raises VersionRejected with a reason a person can act on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference_server.batcher import Batcher, BatchSettings, TileGauges
from inference_server.conditioned_version import ConditioningRejected, conditioner_for, context_feeds, is_conditioned
from inference_server.runtime import EngineError, Runtime, select_runtime
from inference_server.runtime.onnx_runtime import OnnxRuntime
from tessera.imageio import make_thumbnail
from tessera.pixels import pad_to_multiple, rgb8_to_chw
from tessera.registry import (
    CONTEXT_OUTPUT,
    OUTPUT_NAME,
    STYLE_CODE_INPUT,
    THUMBNAIL_INPUT,
    Manifest,
    RegistryError,
    context_io_problem,
    generator_io_problem,
    read_manifest,
    verify_checksums,
)

PROBE_CORE = 32
# FP16 engines differ from FP32 ONNX Runtime by a few thousandths on [-1, 1] outputs; more is a broken plan.
ENGINE_TOLERANCE = 0.05


class VersionRejected(Exception):
    """A version failed validation; str() is the reason."""


@dataclass(frozen=True)
class LoadSettings:
    threads: int = 0
    batching: BatchSettings = BatchSettings()
    # Told (style, tiles) after every runtime call, for the batch-size metric.
    observe_batch: Callable[[str, int], None] | None = None
    # The batcher's tile gauges for a style (queued, in flight), for metrics.
    tile_gauges: Callable[[str], TileGauges] | None = None


class LoadedVersion:
    """A validated version with its runtime and batcher. Streams hold leases on it, so a version
    that ops remove is released only after its last stream ends."""

    def __init__(self, style: str, manifest: Manifest, runtime: Runtime,
                 context_runtime: OnnxRuntime | None, settings: LoadSettings, preview_bytes: bytes = b"") -> None:
        self.style = style
        self.preview_bytes = preview_bytes
        self.version = manifest.version
        self.manifest = manifest
        self.runtime = runtime
        self.context_runtime = context_runtime
        # Set for style-conditioned versions (inference_server.conditioning): codes from presets and images.
        self.conditioner = None
        observe = settings.observe_batch
        self.batcher = Batcher(runtime, settings.batching, f"{style}-v{self.version}",
                               on_batch=None if observe is None else lambda n: observe(style, n),
                               gauges=None if settings.tile_gauges is None else settings.tile_gauges(style))
        self._leases = 0
        self._retired = False
        self._lock = threading.Lock()

    @property
    def tiling(self):
        return self.manifest.tiling

    def compute_context(self, thumbnail: np.ndarray | None, style_code: np.ndarray | None = None) -> np.ndarray | None:
        """The [K] context row for a stream, from its RGB8 thumbnail (and, for a style-conditioned
        version, the style code [D]); None for models without one."""
        if self.context_runtime is None:
            return None
        if thumbnail is None:
            raise ValueError("this style needs a thumbnail of the whole image in the stream header")
        small = make_thumbnail(thumbnail, self.tiling.thumbnail_size)
        feeds = {THUMBNAIL_INPUT: rgb8_to_chw(small)[None]}  # statistics want the thumbnail as it is, unpadded
        if style_code is not None:
            feeds[STYLE_CODE_INPUT] = np.asarray(style_code, np.float32).reshape(1, -1)
        return self.context_runtime.run_named(feeds)[0].astype(np.float32)

    def infer(self, pixels: np.ndarray, context: np.ndarray | None) -> Future:
        """Queue an HxWx3 uint8 region; the future gives its 3x(padded H)x(padded W) output."""
        chw = pad_to_multiple(rgb8_to_chw(pixels), self.tiling.size_multiple)
        return self.batcher.submit(chw, context)

    def acquire(self) -> LoadedVersion:
        with self._lock:
            self._leases += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._leases -= 1
            done = self._retired and self._leases == 0
        if done:
            self._close()

    def retire(self) -> None:
        """No new leases will come; close as soon as the last one is released."""
        with self._lock:
            self._retired = True
            done = self._leases == 0
        if done:
            self._close()

    def _close(self) -> None:
        self.batcher.close()
        self.runtime.finalize()


def load_version(version_dir: Path, settings: LoadSettings) -> LoadedVersion:
    """Validate one version folder and return it ready to serve, or raise VersionRejected."""
    try:
        manifest = read_manifest(version_dir)
        verify_checksums(version_dir, manifest)
    except RegistryError as exc:
        raise VersionRejected(str(exc)) from None
    onnx = _open(version_dir / manifest.onnx.file, settings.threads)
    context_model = None
    if manifest.context_onnx is not None:
        context_model = _open(version_dir / manifest.context_onnx.file, 1, output=CONTEXT_OUTPUT)
        _check_context_io(context_model, conditioned=is_conditioned(manifest))
    _check_generator_io(onnx, with_context=context_model is not None)
    reference = _probe(onnx, context_model, manifest)
    conditioner = _conditioner(version_dir, manifest) if is_conditioned(manifest) else None
    runtime = _fastest_runtime(version_dir, manifest, onnx, settings)
    if runtime is not onnx:
        _check_against(runtime, reference, context_model, manifest)
    preview = (version_dir / manifest.preview.file).read_bytes() if manifest.preview else b""
    loaded = LoadedVersion(version_dir.parent.name, manifest, runtime, context_model, settings, preview)
    loaded.conditioner = conditioner
    return loaded


def _conditioner(version_dir: Path, manifest: Manifest):
    """The encoder and presets of a style-conditioned version, checked (inference_server.conditioned_version)."""
    try:
        return conditioner_for(version_dir, manifest, lambda path, output: _open(path, 1, output=output))
    except ConditioningRejected as exc:
        raise VersionRejected(str(exc)) from None


def _open(path: Path, threads: int, output: str = OUTPUT_NAME) -> OnnxRuntime:
    try:
        return OnnxRuntime(path, threads=threads, output=output)
    except EngineError as exc:
        raise VersionRejected(str(exc)) from None


def _fastest_runtime(version_dir: Path, manifest: Manifest, onnx: OnnxRuntime, settings: LoadSettings) -> Runtime:
    if not manifest.tensorrt:
        return onnx  # the validated session serves; no need to load the file twice
    runtime = select_runtime(version_dir, manifest, settings.threads, settings.batching.max_batch_size)
    if runtime.name != onnx.name:
        onnx.finalize()
        return runtime
    runtime.finalize()
    return onnx


def _check_generator_io(model: OnnxRuntime, with_context: bool) -> None:
    problem = generator_io_problem(model.inputs(), model.outputs(), with_context)
    if problem:
        raise VersionRejected(problem)


def _check_context_io(model: OnnxRuntime, conditioned: bool = False) -> None:
    problem = context_io_problem(model.inputs(), model.outputs(), conditioned)
    if problem:
        raise VersionRejected(problem)


def _probe_tile(manifest: Manifest) -> np.ndarray:
    tiling = manifest.tiling
    edge = -(-(PROBE_CORE + 2 * tiling.halo) // tiling.size_multiple) * tiling.size_multiple
    return np.random.default_rng(0).uniform(-1, 1, size=(1, 3, edge, edge)).astype(np.float32)


def _check_against(runtime: Runtime, reference: np.ndarray, context_model: OnnxRuntime | None,
                   manifest: Manifest) -> None:
    """A faster engine (TensorRT) serves only if its probe output is finite and close to ONNX Runtime's."""
    output = _probe(runtime, context_model, manifest)
    difference = float(np.abs(output - reference).max())
    if difference > ENGINE_TOLERANCE:
        raise VersionRejected(f"{runtime.name} differs from ONNX Runtime by {difference:.3f} on the probe tile")


def _probe(model: Runtime, context_model: OnnxRuntime | None, manifest: Manifest) -> np.ndarray:
    """Run a random tile with its halo, demand finite output of the input's shape, and return it."""
    tile = _probe_tile(manifest)
    edge = tile.shape[-1]
    try:
        context = None
        if context_model is not None:
            context = context_model.run_named(context_feeds(manifest, tile)).astype(np.float32)
            if context.ndim != 2 or context.shape[0] != 1 or not np.isfinite(context).all():
                raise VersionRejected(f"context model gave {context.shape} or non-finite values; expected [1, K]")
        output = model.execute(tile, context)
    except VersionRejected:
        raise
    except Exception as exc:  # ORT reports shape and type errors with its own exception classes
        raise VersionRejected(f"probe tile {edge}x{edge} failed: {exc}") from None
    if output.shape != tile.shape:
        raise VersionRejected(f"probe tile of shape {tile.shape} gave output of shape {output.shape}")
    if not np.isfinite(output).all():
        raise VersionRejected("probe tile gave non-finite output (NaN or infinity)")
    return output
