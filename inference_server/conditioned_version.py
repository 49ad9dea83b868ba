"""Loading the parts of a style-conditioned version beyond the generator: encoder, presets, context feeds.

`load_version` (model_version.py) validates the transform and context model as for any version; for
the conditioned kind it also calls `conditioner_for`, which opens and checks the encoder, reads the
presets and probes the encoder, and it feeds the context model a style code with `context_feeds`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference_server.conditioning import Conditioner, Preset
from tessera.registry import CONDITIONED, STYLE_CODE_INPUT, STYLE_CODE_OUTPUT, STYLE_IMAGE_INPUT, THUMBNAIL_INPUT


class ConditioningRejected(Exception):
    """The encoder or the presets of a conditioned version are unusable; str() is the reason."""


def is_conditioned(manifest) -> bool:
    return getattr(manifest, "kind", "") == CONDITIONED


def context_feeds(manifest, thumbnail: np.ndarray) -> dict[str, np.ndarray]:
    """The context model's inputs for a [1, 3, h, w] thumbnail: plus a neutral code for conditioned kinds."""
    feeds = {THUMBNAIL_INPUT: thumbnail}
    if is_conditioned(manifest):
        feeds[STYLE_CODE_INPUT] = probe_code(manifest)
    return feeds


def probe_code(manifest) -> np.ndarray:
    """[1, D]: the first preset's code, or a uniform mix of styles when there is no preset."""
    size = manifest.conditioning.code_size
    if manifest.presets:
        return np.asarray(manifest.presets[0].code, np.float32).reshape(1, size)
    return np.full((1, size), 1.0 / size, np.float32)


def conditioner_for(version_dir: Path, manifest, open_model) -> Conditioner:
    """The version's Conditioner: presets with their preview bytes, and the encoder if it ships one.

    ``open_model(path, output)`` opens an ONNX file as the server's OnnxRuntime. Raises
    ConditioningRejected with a reason a person can act on.
    """
    conditioning = manifest.conditioning
    presets = [Preset(id=p.id, name=p.name, code=np.asarray(p.code, np.float32),
                      preview_jpeg=(version_dir / p.preview.file).read_bytes() if p.preview else b"",
                      credits=p.credits, license=p.license) for p in manifest.presets]
    encoder = None
    encoder_artifact = manifest.artifacts.encoder_onnx
    if encoder_artifact is not None:
        model = open_model(version_dir / encoder_artifact.file, STYLE_CODE_OUTPUT)
        encoder = _checked_encoder(model, conditioning.encoder.size, conditioning.code_size)
    return Conditioner(conditioning.code_size, presets, encoder,
                       conditioning.encoder.size if conditioning.encoder else 0)


def _checked_encoder(model, size: int, code_size: int):
    inputs = model.inputs()
    if set(inputs) != {STYLE_IMAGE_INPUT}:
        raise ConditioningRejected(f"encoder has inputs {sorted(inputs)}; expected '{STYLE_IMAGE_INPUT}'")
    probe = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, size, size)).astype(np.float32)
    try:
        code = np.asarray(model.run_named({STYLE_IMAGE_INPUT: probe}))
    except Exception as exc:  # ORT's own exception classes for shape and type errors
        raise ConditioningRejected(f"encoder probe failed: {exc}") from None
    if code.shape != (1, code_size) or not np.isfinite(code).all():
        raise ConditioningRejected(f"encoder gave {code.shape} (or non-finite values); expected [1, {code_size}]")

    def encode(style_image: np.ndarray) -> np.ndarray:
        return model.run_named({STYLE_IMAGE_INPUT: style_image})[0]
    return encode
