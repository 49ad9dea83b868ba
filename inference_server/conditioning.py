"""The look of a style-conditioned version: presets, style images and mixes turned into one style code.

A request names its look as StyleSources (a preset id or an encoded style image, each with a weight).
`decode_sources` checks them before any model is leased; `Conditioner.code_for` runs the version's
encoder on the style images, mixes the codes by weight (tessera.style_codes) and applies strength.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inference_server.errors import InvalidRequest
from inference_server.unknown_ids import unknown_id_message
from tessera.imageio import ImageFormatError, ImageTooLargeError, make_thumbnail, open_image, to_rgb_array
from tessera.style_codes import encoder_input, mix_codes, with_strength
from tessera.style_sources import MAX_SOURCES, MAX_STYLE_IMAGE_PIXELS
from tessera.v1 import style_transfer_pb2 as pb

# Style images are shrunk to this side before the centre crop: the encoder sees 256 px anyway.
STYLE_IMAGE_WORKING_SIDE = 1024


@dataclass(frozen=True)
class Source:
    """One decoded ingredient: a preset id or an HxWx3 uint8 style image, and its weight (>= 0)."""

    weight: float
    preset: str = ""
    image: np.ndarray | None = None


def decode_sources(sources: Iterable[pb.StyleSource]) -> tuple[Source, ...]:
    """The request's StyleSources, checked and decoded; InvalidRequest says what is wrong."""
    decoded = []
    for i, source in enumerate(sources):
        if i >= MAX_SOURCES:
            raise InvalidRequest(f"at most {MAX_SOURCES} style sources can be mixed")
        weight = source.weight if source.HasField("weight") else 1.0
        if not math.isfinite(weight) or weight < 0:
            raise InvalidRequest(f"the {_ordinal(i)} style source: its weight must be a number >= 0, got {weight}")
        kind = source.WhichOneof("source")
        if kind == "preset" and not source.preset:
            raise InvalidRequest(f"the {_ordinal(i)} style source's preset is empty: name one of the style's "
                                 "presets (StyleInfo.presets; `tessera styles`)")
        if kind == "image" and not source.image:
            raise InvalidRequest(f"the {_ordinal(i)} style source's style image is empty: send the painting's "
                                 "encoded PNG, JPEG or WebP bytes")
        if kind == "preset":
            decoded.append(Source(weight, preset=source.preset))  # an unknown one is named with the style's
        elif kind == "image":
            decoded.append(Source(weight, image=_decode_style_image(i, source.image)))
        else:
            raise InvalidRequest(f"the {_ordinal(i)} style source names neither a preset nor a style image")
    if decoded and sum(s.weight for s in decoded) <= 0:
        raise InvalidRequest("the style sources' weights must not all be 0")
    return tuple(decoded)


def _ordinal(index: int) -> str:
    """0 -> "first": the request's style sources in the order a person gave them."""
    words = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
    return words[index] if index < len(words) else f"#{index + 1}"


def _decode_style_image(index: int, data: bytes) -> np.ndarray:
    try:
        pixels = to_rgb_array(open_image(data, MAX_STYLE_IMAGE_PIXELS))
    except (ImageFormatError, ImageTooLargeError) as exc:
        raise InvalidRequest(f"the {_ordinal(index)} style source, a style image: {exc}") from None
    return make_thumbnail(pixels, STYLE_IMAGE_WORKING_SIDE)


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    code: np.ndarray  # [D] float32
    preview_jpeg: bytes = b""
    credits: str = ""
    license: str = ""


class Conditioner:
    """Style codes for one style-conditioned version. `encoder` runs [1, 3, S, S] -> [1, D] (None when
    the version has no encoder: its codes are style weights, its strength blends pixels)."""

    def __init__(self, code_size: int, presets: Sequence[Preset], encoder=None, encoder_size: int = 256) -> None:
        self.code_size = code_size
        self.presets = {p.id: p for p in presets}
        self.preset_order = [p.id for p in presets]
        self.encoder = encoder
        self.encoder_size = encoder_size

    @property
    def strength_moves_code(self) -> bool:
        """True: strength interpolates the code toward the photo's own; False: it blends pixels."""
        return self.encoder is not None

    def encode(self, rgb8: np.ndarray) -> np.ndarray:
        """A style image's code [D]; InvalidRequest when this version has no encoder."""
        if self.encoder is None:
            raise InvalidRequest("this style takes presets only: its version has no encoder for style images")
        return np.asarray(self.encoder(encoder_input(rgb8, self.encoder_size)), np.float32).reshape(-1)

    def code_for(self, sources: Sequence[Source], thumbnail: np.ndarray | None, strength: float) -> np.ndarray:
        """The mixed code [D] of ``sources`` (the first preset when empty), moved toward the code of
        ``thumbnail`` (the photo) by ``1 - strength`` when strength_moves_code."""
        if not sources:
            if not self.preset_order:
                raise InvalidRequest("this style has no presets; send a style image")
            sources = (Source(1.0, preset=self.preset_order[0]),)
        codes = [self._code_of(s) for s in sources]
        code = mix_codes(codes, [s.weight for s in sources]).astype(np.float32)
        if self.strength_moves_code and strength < 1.0 and thumbnail is not None:
            code = with_strength(code, self.encode(thumbnail), strength)
        return code

    def _code_of(self, source: Source) -> np.ndarray:
        if source.image is not None:
            return self.encode(source.image)
        preset = self.presets.get(source.preset)
        if preset is None:
            raise InvalidRequest(unknown_id_message("preset", source.preset, list(self.preset_order), "this style has"))
        return preset.code
