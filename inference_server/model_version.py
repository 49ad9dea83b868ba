"""One style version: validated before it may serve, then run through its batcher.

`load_version` checks everything DESIGN.md §1 asks (manifest, checksums, loadability, the I/O
convention, finite output on the probe tiles of probe_tiles.py) and raises VersionRejected with a
reason a person can act on; a conditioned version's optional whole.onnx must also agree with its two
passes (whole_image.py). The store warms a version (`LoadedVersion.warm_up`) before it
serves. Once serving, every tile's output is checked for NaN and infinity too: such a tile fails with
NonFiniteOutput and marks its version unhealthy.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inference_server.batcher import Batcher, BatchSettings, TileGauges, default_runners
from inference_server.bf16_forms import Bf16Refused, Placement, probed_bf16, probed_fp32_openvino
from inference_server.conditioned_version import ConditioningRejected, conditioner_for, is_conditioned, probe_code
from inference_server.critic import Critic, load_critic
from inference_server.probe_tiles import photo_like
from inference_server.runtime import (
    DEFAULT_CPU_ENGINE,
    ContextModel,
    EngineError,
    Runtime,
    openvino_runtime,
    own_calls,
    select_runtime,
)
from inference_server.runtime.onnx_runtime import OnnxRuntime
from inference_server.runtime.tensorrt_runtime import plan_core_limit
from inference_server.version_checks import (
    VersionRejected,
    check_against,
    check_context_io,
    check_generator_io,
    context_row,
    model_input,
    probe,
)
from inference_server.warm_up import WarmUp, warm_up
from inference_server.whole_image import load_whole
from tessera.heap import HeapTrimmer
from tessera.registry import (
    CONTEXT_INPUT,
    CONTEXT_OUTPUT,
    OPENVINO_FP32,
    OUTPUT_NAME,
    REDUCED_PRECISIONS,
    Manifest,
    RegistryError,
    read_manifest,
    verify_checksums,
)
from tessera.tiling import MAX_TILE_EDGE, MAX_TILE_PIXELS, NO_BORDER, Border, extend, remove_border

__all__ = ["LoadSettings", "LoadedVersion", "NonFiniteOutput", "VersionRejected", "load_version"]

log = logging.getLogger(__name__)


class NonFiniteOutput(EngineError):
    """A served tile came out with NaN or infinite values; the version (`version`) is marked unhealthy."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class LoadSettings:
    threads: int = 0
    cpu_engine: str = DEFAULT_CPU_ENGINE  # inference_server.runtime.CPU_ENGINES; the server passes its --cpu-engine
    batching: BatchSettings = BatchSettings()
    # Told (style, tiles) after every runtime call, for the batch-size metric.
    observe_batch: Callable[[str, int], None] | None = None
    # The batcher's tile gauges for a style (queued, in flight), for metrics.
    tile_gauges: Callable[[str], TileGauges] | None = None
    # Told (style, "context" or "one_pass") for every context model run for a stream and every image
    # served by whole.onnx in one pass instead (whole_image.py), for the passes metric.
    observe_pass: Callable[[str, str], None] | None = None
    # Told (version, first time) for every served tile with non-finite output, from a batcher runner's thread.
    on_nonfinite: Callable[[LoadedVersion, bool], None] | None = None
    warm_up: WarmUp = WarmUp()
    # When freed heap pages go back to the OS (tessera/heap.py): one trimmer for all versions.
    trimmer: HeapTrimmer = field(default_factory=lambda: HeapTrimmer(0.0))


class LoadedVersion:
    """A validated version with its runtime and batcher. Streams hold leases on it, so a version
    that ops remove is released only after its last stream ends."""

    def __init__(self, style: str, manifest: Manifest, runtime: Runtime,
                 context_runtime: ContextModel | None, settings: LoadSettings, preview_bytes: bytes = b"",
                 whole_runtime: OnnxRuntime | None = None) -> None:
        self.style = style
        self.preview_bytes = preview_bytes
        self.version = manifest.version
        self.manifest = manifest
        self.runtime = runtime
        self.context_runtime = context_runtime
        # Set for style-conditioned versions (inference_server.conditioning): codes from presets and images.
        self.conditioner = None
        # Set for versions that ship critic.onnx: realism maps and Grad-CAM (inference_server.critic).
        self.critic: Critic | None = None
        observe = settings.observe_batch
        # Freed tile buffers go back to the OS once the queue runs dry, and every few seconds under
        # steady load (docs/serving.md, "Memory").
        # The context model (OpenVINO keeps its activation memory, about 120 MB for teacher-26's
        # 512 px thumbnail) goes back with the tiles' runtime, once the version is idle.
        self.batcher = Batcher(runtime, settings.batching, f"{style}-v{self.version}",
                               on_batch=None if observe is None else lambda n: observe(style, n),
                               gauges=None if settings.tile_gauges is None else settings.tile_gauges(style),
                               after_runs=settings.trimmer.after_work,
                               also_release=None if context_runtime is None else context_runtime.release_idle)
        # whole.onnx of a conditioned version (whole_image.py): image + style codes, one pass, own queue.
        self.whole_runtime = whole_runtime
        self.whole_batcher = None if whole_runtime is None else Batcher(
            whole_runtime, settings.batching, f"{style}-v{self.version}-whole",
            gauges=None if settings.tile_gauges is None else settings.tile_gauges(style),
            after_runs=settings.trimmer.after_work)
        self._observe_pass = settings.observe_pass
        self._leases = 0
        self._last_used = -math.inf  # time.monotonic() of the last acquire or release
        self._retired = False
        self._lock = threading.Lock()
        self._health_problem = ""
        self.nonfinite_tiles = 0
        self._on_nonfinite = settings.on_nonfinite
        self._warm_settings = settings.warm_up
        self._plan_core = plan_core_limit(manifest, settings.batching.max_batch_size)
        self._warmed = False

    @property
    def tiling(self):
        return self.manifest.tiling

    @property
    def tile_limits(self) -> tuple[int, int]:
        """(longest core edge in px, most core pixels) a tile of this version may have: the server's
        MAX_TILE_EDGE and MAX_TILE_PIXELS, within the cores of the TensorRT plans its manifest lists
        (tensorrt_runtime.plan_core_limit), on every replica alike, GPU or not. TilingInfo offers them
        and the streams and unary Stylize keep to them."""
        if self._plan_core is None:
            return MAX_TILE_EDGE, MAX_TILE_PIXELS
        return min(MAX_TILE_EDGE, self._plan_core), min(MAX_TILE_PIXELS, self._plan_core ** 2)

    def compute_context(self, thumbnail: np.ndarray | None, style_code: np.ndarray | None = None) -> np.ndarray | None:
        """The [K] context row for a stream, from its RGB8 thumbnail (and, for a style-conditioned
        version, the style code [D]); None for models without one."""
        if self.context_runtime is None:
            return None
        if thumbnail is None:
            raise ValueError("this style needs a thumbnail of the whole image in the stream header")
        row = context_row(self.context_runtime, thumbnail, self.tiling, style_code)
        self._passed("context")
        return row

    def infer(self, pixels: np.ndarray, context: np.ndarray | None, border: Border = NO_BORDER) -> Future:
        """Queue an HxWx3 uint8 region; the future gives its 3x(padded H)x(padded W) float32 output in
        [-1, 1], or fails with NonFiniteOutput when the model gave NaN or infinity for it (which also
        marks this version unhealthy). `border` is the image border the region gets on its sides on
        the image's edge (tessera.tiling.image_border with tiling.border); it is cropped off again, so
        the output starts at the region's top left."""
        if not border:
            return self._queue(self.batcher, pixels, context)
        height, width = pixels.shape[:2]
        cropped: Future = Future()
        self._queue(self.batcher, extend(pixels, border), context).add_done_callback(
            lambda done: _forward(done, cropped, lambda out: remove_border(out, border, height, width)))
        return cropped

    def infer_whole(self, pixels: np.ndarray, style_code: np.ndarray) -> Future:
        """infer() in one pass through whole.onnx for an image that is its own thumbnail (the caller
        checks that with whole_image.one_pass_fits), with style code [D]; only when whole_runtime is set."""
        self._passed("one_pass")
        return self._queue(self.whole_batcher, pixels, np.asarray(style_code, np.float32).reshape(-1))

    def _queue(self, batcher: Batcher, pixels: np.ndarray, context: np.ndarray | None) -> Future:
        checked: Future = Future()
        batcher.submit(model_input(pixels, self.tiling), context).add_done_callback(
            lambda done: self._check_finite(done, checked, pixels.shape))
        return checked

    def _passed(self, kind: str) -> None:
        if self._observe_pass is not None:
            self._observe_pass(self.style, kind)

    @property
    def health_problem(self) -> str:
        """Why this version should not serve although it loaded ("" while healthy)."""
        return self._health_problem

    def _check_finite(self, done: Future, checked: Future, shape: tuple) -> None:
        if not checked.set_running_or_notify_cancel():
            return
        error = done.exception()
        # A float64 sum is finite exactly when every value is (float32 values cannot overflow it),
        # and it needs no temporary array the size of the output.
        if error is None and not math.isfinite(done.result().sum(dtype=np.float64)):
            error = NonFiniteOutput(f"style {self.style} version {self.version} gave NaN or infinite values for a "
                                    f"{shape[1]}x{shape[0]} tile; the version is marked unhealthy", self.version)
            self._mark_unhealthy(f"it gave NaN or infinite values for a served {shape[1]}x{shape[0]} tile")
        if error is None:
            checked.set_result(done.result())
        else:
            checked.set_exception(error)

    def _mark_unhealthy(self, reason: str) -> None:
        with self._lock:
            first = not self._health_problem
            self._health_problem = self._health_problem or reason
            self.nonfinite_tiles += 1  # runners of one version finish tiles concurrently
        if self._on_nonfinite is not None:
            self._on_nonfinite(self, first)

    def static_tile_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of the tiles this version serves on static compiles (an exact form on
        OpenVINO fp32, runtime/openvino_shapes.py); none on other runtimes."""
        sizes = getattr(self.runtime, "static_tile_sizes", None)
        return sizes() if sizes is not None else []

    def warm_up(self, tile_sizes: Sequence[tuple[int, int]] = ()) -> None:
        """Run the typical tile until its timing settles (warm_up.py), the first time only; the store
        calls it before the version takes traffic, with the `tile_sizes` (height, width) the version it
        replaces served on static compiles, which a runtime that has them compiles now for this one
        (so the photo sizes in use run at full speed from the first tile). A failure here only costs
        speed."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True

        code = probe_code(self.manifest)[0] if is_conditioned(self.manifest) else None

        def run_tile(tile: np.ndarray) -> np.ndarray:
            context = None if self.context_runtime is None else self.compute_context(tile, code)[None]
            # Kernels, caches and the shared arena's pages warm up for the traffic to come.
            return self.runtime.execute(model_input(tile, self.tiling)[None], context)

        with own_calls(self.runtime):  # not clients' shapes: no static compile is made for them
            self._warm("", run_tile, self.tiling.halo, self._warm_settings)
        self._compile_static(tile_sizes, code)
        self.batcher.ran_outside()  # what warming kept goes back if no traffic follows
        if self.whole_runtime is not None:
            # Its typical image is a preview: a thumbnail as one tile, no halo.
            self._warm(" (one pass)", lambda image: self.whole_runtime.execute(
                model_input(image, self.tiling)[None], code[None]), 0,
                replace(self._warm_settings, tile_size=self.tiling.thumbnail_size))
            self.whole_batcher.ran_outside()

    def _compile_static(self, tile_sizes: Sequence[tuple[int, int]], code: np.ndarray | None) -> None:
        """Compile the runtime's static model of each tile size (photo-like tiles of that size with their
        own context), where the runtime has static compiles; a failure only costs speed."""
        compile_static = getattr(self.runtime, "compile_static", None)
        if compile_static is None or not tile_sizes:
            return
        compiled = []
        for height, width in tile_sizes:
            tile = photo_like(height, width, seed=13)
            try:
                context = None if self.context_runtime is None else self.compute_context(tile, code)[None]
                if compile_static(model_input(tile, self.tiling)[None], context):
                    compiled.append(f"{width}x{height}")
            except Exception as exc:  # the probes passed, so serving works without it: say so and go on
                log.warning("%s version %d: compiling the %dx%d tile shape failed: %s", self.style, self.version,
                            width, height, exc)
        log.info("%s version %d compiled the tile shapes of the version it replaces: %s", self.style,
                 self.version, ", ".join(compiled) or "none")

    def _warm(self, what: str, run_tile: Callable[[np.ndarray], object], halo: int, settings: WarmUp) -> None:
        try:
            times = warm_up(run_tile, halo, self.tiling.size_multiple, settings)
        except Exception as exc:  # the probes passed, so serving can still work: say so and go on cold
            log.warning("%s version %d%s: warming up failed, serving cold: %s", self.style, self.version, what, exc)
            return
        if times:
            log.info("%s version %d%s warmed up: %s ms", self.style, self.version, what,
                     ", ".join(f"{t * 1000:.0f}" for t in times))

    def acquire(self) -> LoadedVersion:
        with self._lock:
            self._leases += 1
            self._last_used = time.monotonic()
        return self

    def release(self) -> None:
        with self._lock:
            self._leases -= 1
            self._last_used = time.monotonic()
            done = self._retired and self._leases == 0
        if done:
            self._close()

    def in_use(self, within_seconds: float) -> bool:
        """Whether a call holds this version now or held it within the last `within_seconds`."""
        with self._lock:
            return self._leases > 0 or time.monotonic() - self._last_used < within_seconds

    def keep_unhealthy(self, reason: str) -> None:
        """Mark a freshly loaded copy unhealthy for what an earlier copy of the same version showed."""
        with self._lock:
            self._health_problem = self._health_problem or reason

    @property
    def retired(self) -> bool:
        """Whether the store has let this version go (it closes once its last lease is released)."""
        with self._lock:
            return self._retired

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
        if self.context_runtime is not None:
            self.context_runtime.finalize()
        if self.whole_batcher is not None:
            self.whole_batcher.close()
            self.whole_runtime.finalize()


def load_version(version_dir: Path, settings: LoadSettings) -> LoadedVersion:
    """Validate one version folder and return it ready to serve, or raise VersionRejected."""
    try:
        manifest = read_manifest(version_dir)
    except RegistryError as exc:
        raise VersionRejected(str(exc), "manifest") from None
    try:
        verify_checksums(version_dir, manifest)
    except RegistryError as exc:
        raise VersionRejected(str(exc), "checksum") from None
    onnx = _open(version_dir / manifest.onnx.file, settings.threads)
    context_model = None
    if manifest.context_onnx is not None:
        # As many threads as the default runners (a core each, at most 4): a stream waits for its
        # context before any of its tiles can run.
        context_model = _open(version_dir / manifest.context_onnx.file, default_runners(), output=CONTEXT_OUTPUT)
        check_context_io(context_model, conditioned=is_conditioned(manifest))
    check_generator_io(onnx, with_context=context_model is not None)
    reference = probe(onnx, context_model, manifest)
    conditioner = _conditioner(version_dir, manifest) if is_conditioned(manifest) else None
    whole = None
    if conditioner is not None:
        whole = load_whole(version_dir, manifest, lambda path, feeds: _open(path, settings.threads,
                                                                            context_input=feeds),
                           onnx, context_model)
    critic = load_critic(version_dir, manifest)
    runtime = _fastest_runtime(version_dir, manifest, onnx, settings)
    if runtime is not onnx:
        check_against(runtime, reference, context_model, manifest)
    elif settings.cpu_engine == "auto":
        runtime, context_model = _bf16_runtime(version_dir, manifest, onnx, reference, context_model, settings)
    if whole is not None and runtime is not onnx:
        whole = _without_one_pass(whole)
    preview = (version_dir / manifest.preview.file).read_bytes() if manifest.preview else b""
    loaded = LoadedVersion(version_dir.parent.name, manifest, runtime, context_model, settings, preview, whole)
    loaded.conditioner = conditioner
    loaded.critic = critic
    return loaded


def _without_one_pass(whole: OnnxRuntime) -> None:
    """Let a checked whole.onnx go when the tiles run on another engine than ONNX Runtime fp32, its own:
    beside a faster engine its one pass is the slower (a 512x340 preview of teacher-26 v4 with its tiles
    in bf16 took 146 ms in one pass against 81-83 ms in two, `TESSERA_CPU_ENGINE=auto`), and it would paint
    the fp32 pixels where the version serves others."""
    whole.finalize()
    return None


def _conditioner(version_dir: Path, manifest: Manifest):
    """The encoder and presets of a style-conditioned version, checked (inference_server.conditioned_version)."""
    try:
        return conditioner_for(version_dir, manifest, lambda path, output: _open(path, 1, output=output))
    except ConditioningRejected as exc:
        raise VersionRejected(str(exc), "conditioning") from None


def _open(path: Path, threads: int, output: str = OUTPUT_NAME, context_input: str = CONTEXT_INPUT) -> OnnxRuntime:
    try:
        return OnnxRuntime(path, threads=threads, output=output, context_input=context_input)
    except EngineError as exc:
        raise VersionRejected(str(exc), "unloadable") from None


def _fastest_runtime(version_dir: Path, manifest: Manifest, onnx: OnnxRuntime, settings: LoadSettings) -> Runtime:
    if not manifest.tensorrt:
        return onnx  # the validated session serves; no need to load the file twice
    runtime = select_runtime(version_dir, manifest, settings.threads, settings.batching.max_batch_size)
    if runtime.name != onnx.name:
        onnx.finalize()
        return runtime
    runtime.finalize()
    return onnx


def _bf16_runtime(version_dir: Path, manifest: Manifest, onnx: OnnxRuntime, reference: list[np.ndarray],
                  context_model: OnnxRuntime | None,
                  settings: LoadSettings) -> tuple[Runtime, ContextModel | None]:
    """(runtime, context model): OpenVINO in the fastest bf16 form the manifest lists (bf16, then
    bf16-fp32-input, then bf16-fp32-stem) that may serve, with the context model bf16_forms.py chooses
    for it, where the CPU has native bf16; otherwise the validated ONNX Runtime sessions, with a log
    line per form saying why."""
    label = f"{version_dir.parent.name} v{manifest.version}"
    if OPENVINO_FP32 in manifest.precisions:
        return _fp32_openvino_runtime(version_dir, manifest, onnx, reference, context_model, settings, label)
    if not openvino_runtime.bf16_available():
        log.warning("%s stays on ONNX Runtime: --cpu-engine auto, but OpenVINO is not installed or this CPU has "
                    "no native bf16", label)
        return onnx, context_model
    forms = [p for p in REDUCED_PRECISIONS if p in manifest.precisions]
    if not forms:
        log.info("%s stays on ONNX Runtime: its manifest lists no bf16 precision (%s)", label,
                 " or ".join(REDUCED_PRECISIONS))
        return onnx, context_model
    placement = Placement(threads=settings.threads, streams=settings.batching.runners or default_runners(),
                          # one stream of as many threads as the default runners, as the fp32 context model has
                          context_threads=default_runners())
    for precision in forms:  # the fastest form first
        try:
            form = probed_bf16(version_dir, manifest, precision, reference, context_model, placement)
        except Bf16Refused as exc:
            log.warning("%s stays on ONNX Runtime at %s: %s", label, precision, exc)
            continue
        onnx.finalize()
        if context_model is not None and form.context_model is not context_model:
            context_model.finalize()
        context_note = "" if form.context_model is None else f", its context model on {form.context_model.name}"
        log.info("%s serves on %s%s (natural probe tiles at least %.1f dB PSNR from ONNX Runtime fp32)", label,
                 form.runtime.name, context_note, form.psnr_db)
        return form.runtime, form.context_model
    return onnx, context_model


def _fp32_openvino_runtime(version_dir: Path, manifest: Manifest, onnx: OnnxRuntime, reference: list[np.ndarray],
                           context_model: OnnxRuntime | None, settings: LoadSettings,
                           label: str) -> tuple[Runtime, ContextModel | None]:
    """(runtime, context model): the version's exact form on OpenVINO fp32 (any CPU) when its probe
    tiles give ONNX Runtime's bytes, beside the ONNX Runtime context model (the form reads the same
    context row); otherwise the validated ONNX Runtime sessions, with a log line saying why."""
    if not openvino_runtime.openvino_available():
        log.warning("%s stays on ONNX Runtime: --cpu-engine auto, but OpenVINO is not installed", label)
        return onnx, context_model
    placement = Placement(threads=settings.threads, streams=settings.batching.runners or default_runners(),
                          context_threads=default_runners())
    try:
        form = probed_fp32_openvino(version_dir, manifest, reference, context_model, placement)
    except Bf16Refused as exc:
        log.warning("%s stays on ONNX Runtime at %s: %s", label, OPENVINO_FP32, exc)
        return onnx, context_model
    onnx.finalize()
    log.info("%s serves on %s, its context model on %s (every probe tile gives ONNX Runtime fp32's bytes)",
             label, form.runtime.name, "none" if context_model is None else context_model.name)
    return form.runtime, form.context_model


def _forward(done: Future, target: Future, transform: Callable[[np.ndarray], np.ndarray]) -> None:
    """Settle `target` with `transform` of `done`'s result, or with its exception."""
    if not target.set_running_or_notify_cancel():
        return
    error = done.exception()
    if error is None:
        target.set_result(transform(done.result()))
    else:
        target.set_exception(error)
