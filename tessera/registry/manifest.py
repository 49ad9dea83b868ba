"""The schema of manifest.json, declared with pydantic; every error names the field it is about.

A manifest describes one immutable version (docs/registry.md). `format_version` says which schema
applies and `kind` which kind of model the version holds. Here: the fields every kind shares
(`BaseManifest`) and the fixed-style generator's schema. The second kind, "conditioned" (a
style-conditioned model: presets, an encoder), lives in `conditioned.py`; `kinds.py` reads a manifest
with its kind's schema. A new kind is a new model class added there to `MANIFEST_KINDS` (and to the
`Manifest` union), sharing `BaseManifest`'s fields, so readers that only know generators reject it by name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tessera.registry.critic import CriticInfo
from tessera.registry.io_rule import CONTEXT_INPUT, INPUT_NAME, OUTPUT_NAME
from tessera.registry.manifest_base import Text, _Schema, control_characters_problem
from tessera.tiling import MAX_HALO, MAX_THUMBNAIL_SIZE, MAX_TILE_EDGE, MAX_TILE_SIZE, MIN_THUMBNAIL_SIZE

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
GENERATOR = "generator"
TILING_MODES = ("crop", "feather")
STYLE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# The most tiles a TensorRT plan may say it takes per call (artifacts.tensorrt[].max_batch): far above any
# batch a server forms (--max-batch-size, 8 in `trainer build-trt`), and the tiles' sides are bounded by
# MAX_TILE_EDGE, so no plan's declared shapes run to absurd sizes.
MAX_PLAN_BATCH = 1024


# Every precision a manifest may list (docs/registry.md, "Precisions"): fp32, the one every version is
# trained at, then the reduced ones, fastest first: "bf16" runs the whole model in bf16,
# "bf16-fp32-input" keeps what prepares the picture for the stem's convolution in fp32 (its scaling,
# padding and, in a centred stem, trainer/centre_stem.py, the subtraction of the mean colour),
# "bf16-fp32-stem" keeps the stem (up to the first ReLU after a norm) in fp32. Last, "fp32-openvino": the
# graphs run on OpenVINO in fp32 give ONNX Runtime fp32's bytes (an exact form, trainer/onnx_integer.py).
Precision = Literal["fp32", "bf16", "bf16-fp32-input", "bf16-fp32-stem", "fp32-openvino"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
REDUCED_PRECISIONS = ("bf16", "bf16-fp32-input", "bf16-fp32-stem")
OPENVINO_FP32 = "fp32-openvino"


class RegistryError(ValueError):
    """A style or version on disk breaks the layout or the schema; the message says what and where."""


class Artifact(_Schema):
    """A file of the version and its sha256 (hex)."""

    file: StrictStr
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("file")
    @classmethod
    def _plain_file_name(cls, name: str) -> str:
        # A manifest must not point outside its own version folder.
        if not name or "/" in name or "\\" in name or name in (".", "..") or control_characters_problem(name):
            raise ValueError(f"artifact file name {name!r} must be a plain file name")
        return name


class TensorRTPlan(Artifact):
    """A TensorRT plan for one GPU architecture and TensorRT version, with the shapes it was built for.

    `min_tile` is the smallest input side in pixels the engine accepts, `max_tile` the largest tile
    core (halo excluded: the engine takes it with the halo on both sides, rounded up to the size
    multiple), `opt_tile` the core it was tuned for, `max_batch` the most tiles per call. Sides are at
    most MAX_TILE_EDGE (the longest tile core a server takes), batches at most MAX_PLAN_BATCH.
    """

    compute_capability: str = Field(pattern=r"^[0-9]+\.[0-9]+$")
    tensorrt_version: Text
    precision: Literal["fp16", "fp32"] = "fp16"
    min_tile: StrictInt = Field(ge=1, le=MAX_TILE_EDGE)
    opt_tile: StrictInt | None = Field(default=None, ge=1, le=MAX_TILE_EDGE)
    max_tile: StrictInt = Field(ge=1, le=MAX_TILE_EDGE)
    max_batch: StrictInt = Field(ge=1, le=MAX_PLAN_BATCH)

    @model_validator(mode="after")
    def _ordered(self) -> TensorRTPlan:
        opt = self.opt_tile if self.opt_tile is not None else self.max_tile
        if not self.min_tile <= opt <= self.max_tile:
            raise ValueError(f"tile limits must satisfy min_tile <= opt_tile <= max_tile, got "
                             f"{self.min_tile}, {self.opt_tile}, {self.max_tile}")
        return self


class IOConvention(_Schema):
    """The generator I/O convention; only these values are accepted (io_rule checks the ONNX file)."""

    input: Literal["image"] = INPUT_NAME
    output: Literal["stylized"] = OUTPUT_NAME
    context_input: Literal["context"] | None = None
    layout: Literal["NCHW"] = "NCHW"
    color: Literal["RGB"] = "RGB"
    dtype: Literal["float32"] = "float32"
    range: tuple[Literal[-1.0], Literal[1.0]] = (-1.0, 1.0)


class Tiling(_Schema):
    """How the server and client cut images for this version (docs/registry.md, DESIGN.md §3).

    Sizes are bounded by what a server accepts, since it allocates tiles of them (probes, warm-up):
    the halo by the largest halo a stream may carry, the size multiple by the largest tile, the
    thumbnail by the largest a client sends."""

    halo: StrictInt = Field(ge=0, le=MAX_HALO)
    size_multiple: StrictInt = Field(ge=1, le=MAX_TILE_SIZE)
    mode: Literal["crop", "feather"] = "crop"
    tile_safe: StrictBool = True
    needs_thumbnail: StrictBool = False
    thumbnail_size: StrictInt = Field(default=256, ge=MIN_THUMBNAIL_SIZE, le=MAX_THUMBNAIL_SIZE)
    # px of edge replication the model takes around the image (tessera.tiling.image_border): the
    # server adds it to each region's sides on the image's edge and crops it off the output. 0: none.
    border: StrictInt = Field(default=0, ge=0, le=MAX_HALO)

    @model_validator(mode="before")
    @classmethod
    def _tile_safe_follows_mode(cls, data: Any) -> Any:
        # Older manifests leave tile_safe out: a crop-mode version is tile-safe by definition.
        if isinstance(data, dict) and "tile_safe" not in data:
            data = {**data, "tile_safe": data.get("mode", "crop") == "crop"}
        return data


class BaseManifest(_Schema):
    """What every kind of version states: identity, tiling, provenance and measured quality."""

    format_version: Literal[1]
    style: str = Field(pattern=STYLE_ID_PATTERN)
    version: StrictInt = Field(ge=1)
    created: Text = ""
    tiling: Tiling
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    export: dict[str, Any] = Field(default_factory=dict)
    # The arithmetic precisions the version's quality was measured at, so a server may serve it at
    # any of them (docs/registry.md, "Precisions"); "bf16" lets a CPU with native bf16 run it on
    # OpenVINO (docs/serving.md, "Engines"), "bf16-fp32-input" the same with the picture's preparation
    # for its stem's convolution in fp32 (centred stems), "bf16-fp32-stem" with its stem (up to the first
    # ReLU after a norm) in fp32; "fp32-openvino" that OpenVINO fp32 may run its graphs where it gives ONNX
    # Runtime's bytes. fp32, the precision every version is trained at, always.
    precisions: tuple[Precision, ...] = ("fp32",)

    @model_validator(mode="after")
    def _fp32_is_a_precision(self) -> BaseManifest:
        if "fp32" not in self.precisions:
            raise ValueError(f"precisions must list fp32, the precision every version is trained at (got "
                             f"{list(self.precisions)})")
        twice = sorted({p for p in self.precisions if self.precisions.count(p) > 1})
        if twice:
            raise ValueError(f"precisions lists {', '.join(twice)} more than once")
        return self

    def files(self) -> list[Artifact]:
        """Every file the manifest names, for checksum verification."""
        raise NotImplementedError


class ArtifactAccess:
    """The files the server runs, by role, for every kind whose `artifacts` name them alike."""

    @property
    def onnx(self) -> Artifact:
        return self.artifacts.onnx

    @property
    def context_onnx(self) -> Artifact | None:
        return self.artifacts.context_onnx

    @property
    def preview(self) -> Artifact | None:
        return self.artifacts.preview

    @property
    def tensorrt(self) -> tuple[TensorRTPlan, ...]:
        return self.artifacts.tensorrt


class GeneratorArtifacts(_Schema):
    onnx: Artifact
    context_onnx: Artifact | None = None
    preview: Artifact | None = None
    # The trained discriminator, for realism maps and Grad-CAM; run as the manifest's `critic` says.
    critic: Artifact | None = None
    tensorrt: tuple[TensorRTPlan, ...] = ()


class GeneratorManifest(ArtifactAccess, BaseManifest):
    """A fixed-style generator: image in, image out (plus an optional context model and critic)."""

    kind: Literal["generator"] = GENERATOR
    artifacts: GeneratorArtifacts
    io: IOConvention
    critic: CriticInfo | None = None

    @model_validator(mode="before")
    @classmethod
    def _thumbnail_follows_context(cls, data: Any) -> Any:
        # needs_thumbnail defaults to "a context model is shipped"; written out it must agree.
        if isinstance(data, dict) and isinstance(data.get("tiling"), dict) and isinstance(data.get("artifacts"), dict):
            tiling = data["tiling"]
            if "needs_thumbnail" not in tiling:
                data = {**data, "tiling": {**tiling, "needs_thumbnail": "context_onnx" in data["artifacts"]}}
        return data

    @model_validator(mode="after")
    def _context_parts_agree(self) -> GeneratorManifest:
        has_model = self.artifacts.context_onnx is not None
        if has_model != (self.io.context_input is not None):
            raise ValueError("io.context_input and artifacts.context_onnx must come together")
        if has_model != self.tiling.needs_thumbnail:
            raise ValueError("tiling.needs_thumbnail must be true exactly when a context model is shipped")
        if (self.artifacts.critic is None) != (self.critic is None):
            raise ValueError("artifacts.critic and the critic section must come together")
        if self.critic is not None:
            # An explained stream's tiles start on both grids (inference_server/engine.py).
            grid = math.lcm(self.tiling.size_multiple, self.critic.stride)
            if grid > MAX_TILE_SIZE:
                raise ValueError(f"tiling.size_multiple {self.tiling.size_multiple} and the critic's stride "
                                 f"{self.critic.stride} give tiles on a {grid} px grid; at most {MAX_TILE_SIZE}")
        return self

    def files(self) -> list[Artifact]:
        optional = (self.artifacts.context_onnx, self.artifacts.preview, self.artifacts.critic)
        return [self.artifacts.onnx, *self.artifacts.tensorrt, *(a for a in optional if a is not None)]


def describe(exc: ValidationError, limit: int = 3) -> str:
    """The first `limit` problems as 'dotted.field: what is wrong (got value)', joined by '; '."""
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        got = error.get("input")
        # Our own validators name the value already; pydantic's messages do not.
        if error["type"] not in ("missing", "value_error") and isinstance(got, str | int | float | bool | None):
            message += f" (got {got!r})"
        problems.append(f"{where}: {message}" if where else message)
    more = exc.error_count() - limit
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def load_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or RegistryError naming the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path.name} must hold a JSON object")
    return data


def io_section(with_context: bool) -> dict[str, Any]:
    """The `io` block a writer puts in a generator's manifest (the schema's defaults, spelt out)."""
    return IOConvention(context_input=CONTEXT_INPUT if with_context else None).model_dump(
        mode="json", exclude_none=True)
