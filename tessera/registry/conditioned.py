"""The style-conditioned kind of manifest (kind "conditioned", docs/registry.md).

A conditioned version holds a transform whose look comes from a style code inside its context row
(``model.onnx``: image + context), the context model that computes every normalisation layer's
statistics from a thumbnail and a code (``context.onnx``: thumbnail + style_code -> context), an
optional encoder that turns a style image into a code (``encoder.onnx``: style_image -> style_code),
optionally the same network with its statistics computed in-graph (``whole.onnx``: image + style_code ->
stylized), which serves a stream whose one tile is the whole image and its own thumbnail in one pass,
and named presets: a code, a name, a preview of the source image, and its credits and licence.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, FiniteFloat, StrictInt, model_validator

from tessera.registry.manifest import (
    STYLE_ID_PATTERN,
    Artifact,
    ArtifactAccess,
    BaseManifest,
    IOConvention,
    TensorRTPlan,
    _Schema,
)
from tessera.registry.manifest_base import Text

CONDITIONED = "conditioned"
# The most numbers a style code, and the statistics before it, may hold: the server allocates a
# neutral code of code_size numbers to probe a version without presets, and a context row per stream.
MAX_CONTEXT_NUMBERS = 1 << 16


class Preset(_Schema):
    """A named style code; `preview` is a small JPEG of its source image."""

    id: str = Field(pattern=STYLE_ID_PATTERN)
    name: Text
    code: tuple[FiniteFloat, ...]
    preview: Artifact | None = None
    credits: Text = ""
    license: Text = ""


class Encoder(_Schema):
    """The encoder's input side in pixels: it sees the style image's centred square at this size."""

    size: StrictInt = Field(ge=16, le=1024)


class Conditioning(_Schema):
    """How codes work: D numbers after K statistics in the context row; what strength does."""

    code_size: StrictInt = Field(ge=1, le=MAX_CONTEXT_NUMBERS)
    context_stats: StrictInt = Field(ge=0, le=MAX_CONTEXT_NUMBERS)
    encoder: Encoder | None = None
    # "code": strength moves the code toward the photo's own (needs the encoder); "pixels": a blend.
    strength: Literal["code", "pixels"] = "pixels"
    network: Text = ""


class ConditionedArtifacts(_Schema):
    onnx: Artifact
    context_onnx: Artifact
    encoder_onnx: Artifact | None = None
    # The one-pass network for an image that is its own thumbnail (docs/registry.md, "whole.onnx").
    whole_onnx: Artifact | None = None
    preview: Artifact | None = None
    critic: Artifact | None = None
    tensorrt: tuple[TensorRTPlan, ...] = ()


class ConditionedManifest(ArtifactAccess, BaseManifest):
    """A style-conditioned model: image and style code in, image out."""

    kind: Literal["conditioned"]
    artifacts: ConditionedArtifacts
    io: IOConvention
    conditioning: Conditioning
    presets: tuple[Preset, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _needs_thumbnail(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tiling"), dict) and "needs_thumbnail" not in data["tiling"]:
            data = {**data, "tiling": {**data["tiling"], "needs_thumbnail": True}}
        return data

    @model_validator(mode="after")
    def _parts_agree(self) -> ConditionedManifest:
        if self.io.context_input is None or not self.tiling.needs_thumbnail:
            raise ValueError("a conditioned version reads its code from the context: io.context_input and "
                             "tiling.needs_thumbnail are required")
        if (self.artifacts.encoder_onnx is None) != (self.conditioning.encoder is None):
            raise ValueError("artifacts.encoder_onnx and conditioning.encoder must come together")
        if self.conditioning.strength == "code" and self.conditioning.encoder is None:
            raise ValueError("conditioning.strength 'code' needs an encoder (the photo's own code)")
        ids = [p.id for p in self.presets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"preset ids must be unique, got {ids}")
        for preset in self.presets:
            if len(preset.code) != self.conditioning.code_size:
                raise ValueError(f"preset {preset.id!r} has {len(preset.code)} numbers; "
                                 f"conditioning.code_size is {self.conditioning.code_size}")
        if not self.presets and self.conditioning.encoder is None:
            raise ValueError("a conditioned version without an encoder needs at least one preset")
        return self

    def files(self) -> list[Artifact]:
        optional = (self.artifacts.encoder_onnx, self.artifacts.whole_onnx, self.artifacts.preview,
                    self.artifacts.critic)
        previews = [p.preview for p in self.presets if p.preview is not None]
        return [self.artifacts.onnx, self.artifacts.context_onnx, *self.artifacts.tensorrt,
                *(a for a in optional if a is not None), *previews]
