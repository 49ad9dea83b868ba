"""Whether a version may serve in one bf16 form on OpenVINO, and with which context model; and whether
its exact form may serve on OpenVINO fp32 (`probed_fp32_openvino`: the same bytes on every probe).

A bf16 form (tessera.registry.REDUCED_PRECISIONS) serves only when its natural probe tiles
(probe_tiles.py) come out at least REDUCED_PRECISION_PSNR_DB from ONNX Runtime fp32's (docs/serving.md,
"Engines"). A version's context model, which gives the tiles the picture's statistics, is tried in
two arithmetics, in this order:

1. the tiles' own form on OpenVINO. The statistics then come from the same arithmetic as the
   tiles', which the stem forms need (stem_split.py);
2. ONNX Runtime fp32, the context model the version was validated with. A network whose norms apply
   their statistics as one multiply-add and gate flat channels to their bias (trainer/thumb_norm.py,
   teacher-26 v6) needs this: a flat picture's channels are constant only up to bf16's rounding in
   OpenVINO's convolutions (border and interior pixels take other kernels), so the bf16 context
   measures a variance that fp32 would call flat, and the tiles amplify it. teacher-26 v6 painted
   every flat probe 14.5 dB from fp32 with a bf16 context and 75.6 dB with the fp32 one (52-57 dB on
   the photo-like probes with either).

The server (model_version.py) and the tools that publish or measure bf16 forms (scripts/bf16_check.py,
bench/paths.py) all choose here, so a form that passes one passes all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference_server.probe_tiles import probe_set
from inference_server.runtime import ContextModel, EngineError, Runtime, cpu_runtime, openvino_runtime
from inference_server.version_checks import (
    REDUCED_PRECISION_PSNR_DB,
    VersionRejected,
    probe,
    reduced_precision_psnr,
    signed_psnr,
)
from tessera.registry import CONTEXT_OUTPUT, OPENVINO_FP32, Manifest, read_manifest


class Bf16Refused(Exception):
    """The form may not serve; the message says why, as a clause ("OpenVINO is 14.5 dB ...")."""


@dataclass
class Bf16Form:
    """A form that may serve: its tiles' runtime, the context model beside it (None when the version
    has none; else an OpenVINO one at the tiles' precision, or the caller's ONNX Runtime fp32 one) and
    the worst natural probe's PSNR in dB against ONNX Runtime fp32."""

    runtime: Runtime
    context_model: ContextModel | None
    psnr_db: float


@dataclass(frozen=True)
class Placement:
    """Where the form's engines run: `threads` intra-op threads per tile call on `streams` streams,
    and `context_threads` for its context model (a stream's tiles wait for it)."""

    threads: int
    streams: int
    context_threads: int


def probed_bf16(version_dir: Path, manifest: Manifest, precision: str, reference: list[np.ndarray],
                fp32_context: ContextModel | None, placement: Placement) -> Bf16Form:
    """The version at `precision` (a REDUCED_PRECISIONS name) on OpenVINO, with the first context model
    (the module's docstring) whose natural probes agree with ONNX Runtime fp32's `reference` outputs
    (version_checks.probe of the fp32 model with `fp32_context`). The caller keeps ownership of
    `fp32_context` either way. Raises Bf16Refused when OpenVINO cannot load or run the form, or when no
    context model brings every natural probe to REDUCED_PRECISION_PSNR_DB."""
    try:
        tiles = openvino_runtime.OpenVinoRuntime(version_dir / manifest.onnx.file, threads=placement.threads,
                                                 streams=placement.streams, precision=precision)
    except EngineError as exc:
        raise Bf16Refused(f"OpenVINO failed: {exc}") from None
    if manifest.context_onnx is None:
        return _agreeing(tiles, None, None, reference, manifest, [], last=True)
    misses: list[str] = []
    try:
        own = _own_context(version_dir, manifest, precision, tiles, placement.context_threads)
    except EngineError as exc:
        misses.append(f"OpenVINO failed on its context model in {precision}: {exc}")
    else:
        try:
            return _agreeing(tiles, own, precision, reference, manifest, misses, last=False)
        except Bf16Refused:
            own.finalize()
    return _agreeing(tiles, fp32_context, "fp32", reference, manifest, misses, last=True)


def _own_context(version_dir: Path, manifest: Manifest, precision: str, tiles: Runtime,
                 threads: int) -> openvino_runtime.OpenVinoRuntime:
    context = openvino_runtime.OpenVinoRuntime(version_dir / manifest.context_onnx.file, threads=threads,
                                               output=CONTEXT_OUTPUT, precision=precision)
    if context.fp32_convolutions != tiles.fp32_convolutions:
        context.finalize()
        raise EngineError(f"it keeps {context.fp32_convolutions} convolutions in fp32 and the tiles' model "
                          f"{tiles.fp32_convolutions}, so their statistics would come from other arithmetic")
    return context


def _agreeing(tiles: Runtime, context: ContextModel | None, context_precision: str | None,
              reference: list[np.ndarray], manifest: Manifest, misses: list[str], last: bool) -> Bf16Form:
    """`tiles` with `context` (at `context_precision`) if the natural probes agree; otherwise
    Bf16Refused naming every miss so far (`misses` gains this one), after finalizing `tiles` when this
    was the `last` try."""
    with_context = "" if context_precision is None else f" with its context model in {context_precision}"
    try:
        psnr, worst = reduced_precision_psnr(tiles, reference, context, manifest)
    except VersionRejected as exc:
        misses.append(f"OpenVINO failed{with_context}: {exc}")
    else:
        if psnr >= REDUCED_PRECISION_PSNR_DB:
            return Bf16Form(tiles, context, psnr)
        misses.append(f"OpenVINO is {psnr:.1f} dB PSNR from it on the probe tile '{worst}'{with_context}")
    if last:
        tiles.finalize()
    raise Bf16Refused(f"{'; '.join(misses)} (at least {REDUCED_PRECISION_PSNR_DB:.0f} dB needed)")


def probed_fp32_openvino(version_dir: Path, manifest: Manifest, reference: list[np.ndarray],
                         fp32_context: ContextModel | None, placement: Placement) -> Bf16Form:
    """The version's graphs on OpenVINO fp32 (the manifest's "fp32-openvino"), beside the caller's ONNX
    Runtime fp32 context model, when every probe tile, natural and synthetic, gives exactly ONNX
    Runtime's `reference` bytes: the form is exact by construction (trainer/onnx_integer.py), so any
    difference means OpenVINO computes other arithmetic than it was built for (another OpenVINO, a
    fusion it did not do before), and no tolerance would say how far that goes. Raises Bf16Refused
    otherwise; its `psnr_db` is inf."""
    try:
        tiles = openvino_runtime.OpenVinoRuntime(version_dir / manifest.onnx.file, threads=placement.threads,
                                                 streams=placement.streams, precision=OPENVINO_FP32)
    except EngineError as exc:
        raise Bf16Refused(f"OpenVINO failed: {exc}") from None
    try:
        outputs = probe(tiles, fp32_context, manifest)
    except VersionRejected as exc:
        tiles.finalize()
        raise Bf16Refused(f"OpenVINO failed: {exc}") from None
    items = probe_set(manifest.tiling.halo, manifest.tiling.size_multiple)
    for item, out, ref in zip(items, outputs, reference, strict=True):
        if not np.array_equal(out, ref):
            tiles.finalize()
            raise Bf16Refused(f"OpenVINO fp32 does not give ONNX Runtime's bytes on the probe tile '{item.name}' "
                              f"({np.count_nonzero(out != ref)} values differ, "
                              f"{signed_psnr(out, ref):.1f} dB PSNR)")
    return Bf16Form(tiles, fp32_context, float("inf"))


def served_form(version_dir: Path, precision: str, threads: int) -> Bf16Form:
    """The version at `precision` as a server with `--cpu-engine auto` would run it, for tools that
    measure or publish bf16 forms (bench/paths.py, scripts/bf16_check.py, scripts/student_figures.py):
    one stream of `threads` threads, with the context model `probed_bf16` chooses, against the probes'
    reference from ONNX Runtime fp32. Raises Bf16Refused as `probed_bf16`, EngineError when the fp32
    model cannot load, VersionRejected when it fails the server's probes itself."""
    manifest = read_manifest(version_dir)
    fp32 = cpu_runtime(version_dir / manifest.onnx.file, "fp32", threads)
    context = None
    if manifest.context_onnx is not None:
        context = cpu_runtime(version_dir / manifest.context_onnx.file, "fp32", threads, output=CONTEXT_OUTPUT)
    try:
        reference = probe(fp32, context, manifest)
        placement = Placement(threads, 1, threads)
        if precision == OPENVINO_FP32:
            form = probed_fp32_openvino(version_dir, manifest, reference, context, placement)
        else:
            form = probed_bf16(version_dir, manifest, precision, reference, context, placement)
    except BaseException:
        if context is not None:
            context.finalize()
        raise
    finally:
        fp32.finalize()
    if context is not None and form.context_model is not context:
        context.finalize()
    return form
