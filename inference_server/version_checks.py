"""The checks a version passes before it may serve, and the input preparation they share with serving.

Each check raises VersionRejected with a reason a person can act on and a `kind` for the metrics.
"""

from __future__ import annotations

import math

import numpy as np

from inference_server.conditioned_version import is_conditioned, probe_code
from inference_server.probe_tiles import probe_set
from inference_server.runtime import ContextModel, Runtime, own_calls
from inference_server.runtime.onnx_runtime import OnnxRuntime
from tessera.imageio import statistics_thumbnail
from tessera.pixels import pad_rgb8_to_multiple, repeat_to_min_edge, rgb8_to_chw
from tessera.registry import (
    STYLE_CODE_INPUT,
    THUMBNAIL_INPUT,
    Manifest,
    Tiling,
    context_io_problem,
    generator_io_problem,
)

# FP16 engines differ from FP32 ONNX Runtime by a few thousandths on [-1, 1] outputs; more is a broken plan.
ENGINE_TOLERANCE = 0.05
# A bf16 engine (OpenVINO on the CPU) serves a version only when its probe outputs are at least this close
# to ONNX Runtime fp32's, as PSNR on the [-1, 1] range (docs/serving.md, "Engines").
REDUCED_PRECISION_PSNR_DB = 30.0


class VersionRejected(Exception):
    """A version failed validation; str() is the reason, `kind` its category for the metrics
    (manifest, checksum, unloadable, io, probe, conditioning, whole, engine_mismatch)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def model_input(pixels: np.ndarray, tiling: Tiling) -> np.ndarray:
    """An HxWx3 uint8 tile as the model takes it: 3xH'xW' float32 in [-1, 1], padded to the size
    multiple (on the uint8 pixels, then converted in one allocation), C-contiguous."""
    return rgb8_to_chw(pad_rgb8_to_multiple(pixels, tiling.size_multiple))


def context_row(context_model: ContextModel, thumbnail: np.ndarray, tiling: Tiling,
                style_code: np.ndarray | None = None) -> np.ndarray:
    """The [K] float32 context of an image from its HxWx3 uint8 thumbnail (shrunk to
    tiling.thumbnail_size) and, for a style-conditioned version, its style code [D].

    Statistics want the thumbnail as it is, so it is never padded; a thumbnail under 16 px (a tiny
    image's) has its pixels repeated instead, which keeps its statistics exactly."""
    small = repeat_to_min_edge(statistics_thumbnail(thumbnail, tiling.thumbnail_size))
    feeds = {THUMBNAIL_INPUT: rgb8_to_chw(small)[None]}
    if style_code is not None:
        feeds[STYLE_CODE_INPUT] = np.asarray(style_code, np.float32).reshape(1, -1)
    return context_model.run_named(feeds)[0].astype(np.float32)


def check_generator_io(model: OnnxRuntime, with_context: bool) -> None:
    problem = generator_io_problem(model.inputs(), model.outputs(), with_context)
    if problem:
        raise VersionRejected(problem, "io")


def check_context_io(model: OnnxRuntime, conditioned: bool = False) -> None:
    problem = context_io_problem(model.inputs(), model.outputs(), conditioned)
    if problem:
        raise VersionRejected(problem, "io")


def probe(model: Runtime, context_model: ContextModel | None, manifest: Manifest) -> list[np.ndarray]:
    """Run every probe tile (probe_tiles.py); demand finite output of the input's shape, return the outputs."""
    outputs = []
    for item in probe_set(manifest.tiling.halo, manifest.tiling.size_multiple):
        batch = np.stack([model_input(tile, manifest.tiling) for tile in item.tiles])
        context = None
        if context_model is not None:
            rows = [_probe_context(context_model, tile, manifest, item.name) for tile in item.tiles]
            context = np.stack(rows)
        try:
            # Each probe hands its memory back, so a loaded version holds none until it serves.
            with own_calls(model):
                output = model.execute(batch, context, release_memory=True)
        except Exception as exc:  # ORT reports shape and type errors with its own exception classes
            raise VersionRejected(f"probe tile '{item.name}' ({_shape(batch)}) failed: {exc}", "probe") from None
        if output.shape != batch.shape:
            raise VersionRejected(f"probe tile '{item.name}' of shape {batch.shape} gave output of shape "
                                  f"{output.shape}", "probe")
        if not np.isfinite(output).all():
            raise VersionRejected(f"probe tile '{item.name}' ({_shape(batch)}) gave non-finite output "
                                  "(NaN or infinity)", "probe")
        outputs.append(output)
    return outputs


def check_against(runtime: Runtime, reference: list[np.ndarray], context_model: ContextModel | None,
                  manifest: Manifest) -> None:
    """A faster engine (TensorRT) serves only if its probe outputs are finite and close to ONNX Runtime's."""
    outputs = probe(runtime, context_model, manifest)
    difference = max(float(np.abs(out - ref).max()) for out, ref in zip(outputs, reference, strict=True))
    if difference > ENGINE_TOLERANCE:
        raise VersionRejected(f"{runtime.name} differs from ONNX Runtime by {difference:.3f} on the probe tiles",
                              "engine_mismatch")


def reduced_precision_psnr(runtime: Runtime, reference: list[np.ndarray], context_model: ContextModel | None,
                           manifest: Manifest) -> tuple[float, str]:
    """The worst PSNR in dB (peak 2, the [-1, 1] range) of a reduced-precision engine's output against
    ONNX Runtime fp32's `reference` over the natural probes (probe_tiles.Probe.natural), and that
    probe's name. A bf16 engine differs by a few levels everywhere, so the worst pixel says little; a
    normalisation that bf16 breaks (a flat or low-contrast picture) shows as a low PSNR.
    Raises VersionRejected when the engine fails any probe (non-finite output, wrong shape)."""
    outputs = probe(runtime, context_model, manifest)
    items = probe_set(manifest.tiling.halo, manifest.tiling.size_multiple)
    scores = [(signed_psnr(out, ref), item.name) for item, out, ref in zip(items, outputs, reference, strict=True)
              if item.natural]
    return min(scores)


def signed_psnr(output: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of two equal-shape float arrays in the model range [-1, 1] (peak 2); inf when equal."""
    mse = float(np.square(output.astype(np.float64) - reference).mean())
    return float("inf") if mse == 0 else 10 * math.log10(4 / mse)


def _probe_context(context_model: ContextModel, tile: np.ndarray, manifest: Manifest, name: str) -> np.ndarray:
    # A style-conditioned context model also takes a style code: the first preset's, or a neutral one.
    code = probe_code(manifest)[0] if is_conditioned(manifest) else None
    try:
        row = context_row(context_model, tile, manifest.tiling, code)
    except Exception as exc:
        raise VersionRejected(f"context model failed on probe tile '{name}': {exc}", "probe") from None
    if row.ndim != 1 or not np.isfinite(row).all():
        raise VersionRejected(f"context model gave {row.shape} or non-finite values on probe tile '{name}'; "
                              "expected a finite [1, K]", "probe")
    return row


def _shape(batch: np.ndarray) -> str:
    return f"{batch.shape[0]}x{batch.shape[2]}x{batch.shape[3]}"
