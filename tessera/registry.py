"""The model registry's on-disk layout: styles, numbered immutable versions, manifests, pins.

This module is the only code that knows the layout (docs/registry.md). It reads and writes files
and checks the manifest's schema and checksums; loading and probing models is the server's job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
STYLE_FILE = "style.json"
MANIFEST_FILE = "manifest.json"
STYLE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_DIR_RE = re.compile(r"^[1-9][0-9]{0,8}$")

# The I/O convention of a generator (docs/registry.md).
INPUT_NAME = "image"
OUTPUT_NAME = "stylized"
CONTEXT_INPUT = "context"
THUMBNAIL_INPUT = "thumbnail"
CONTEXT_OUTPUT = "context"
TILING_MODES = ("crop", "feather")


class RegistryError(ValueError):
    """A style or version on disk breaks the layout; the message says what and where."""


# An ONNX tensor's description: (element type as ONNX Runtime names it, shape with str/None for dynamic dims).
TensorSpec = tuple[str, list]


def generator_io_problem(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
                         with_context: bool) -> str | None:
    """What breaks the generator I/O convention, or None: the one rule that export and server share."""
    expected_inputs = {INPUT_NAME, CONTEXT_INPUT} if with_context else {INPUT_NAME}
    if set(inputs) != expected_inputs:
        return f"model inputs are {sorted(inputs)}; expected {sorted(expected_inputs)}"
    if OUTPUT_NAME not in outputs:
        return f"model outputs are {sorted(outputs)}; expected '{OUTPUT_NAME}'"
    for name, (kind, shape) in ((INPUT_NAME, inputs[INPUT_NAME]), (OUTPUT_NAME, outputs[OUTPUT_NAME])):
        if kind != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
            return f"'{name}' is {kind} {shape}; expected float32 [N, 3, H, W]"
        fixed = [dim for dim, axis in zip(shape, "NCHW", strict=True) if axis != "C" and isinstance(dim, int)]
        if fixed:
            return f"'{name}' has fixed dimensions {shape}; N, H and W must be dynamic"
    if with_context and (inputs[CONTEXT_INPUT][0] != "tensor(float)" or len(inputs[CONTEXT_INPUT][1]) != 2):
        return f"'{CONTEXT_INPUT}' is {inputs[CONTEXT_INPUT]}; expected float32 [N, K]"
    return None


@dataclass(frozen=True)
class StyleMeta:
    """What style.json says about a style."""

    id: str
    display_name: str
    description: str = ""
    credits: str = ""
    license: str = ""
    pinned_version: int | None = None


@dataclass(frozen=True)
class Artifact:
    file: str
    sha256: str


@dataclass(frozen=True)
class TensorRTPlan:
    file: str
    sha256: str
    compute_capability: str
    tensorrt_version: str
    precision: str = "fp16"
    max_tile: int = 1024


@dataclass(frozen=True)
class Tiling:
    tile_safe: bool
    halo: int
    size_multiple: int
    mode: str
    needs_thumbnail: bool = False
    thumbnail_size: int = 256


@dataclass(frozen=True)
class Manifest:
    """A parsed, schema-checked manifest.json."""

    style: str
    version: int
    onnx: Artifact
    tiling: Tiling
    context_onnx: Artifact | None = None
    preview: Artifact | None = None
    tensorrt: tuple[TensorRTPlan, ...] = ()
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def artifacts(self) -> list[Artifact | TensorRTPlan]:
        """Every file the manifest names, for checksum verification."""
        found: list[Artifact | TensorRTPlan] = [self.onnx, *self.tensorrt]
        found += [a for a in (self.context_onnx, self.preview) if a is not None]
        return found


def style_dirs(root: Path) -> list[Path]:
    """Folders under the registry root whose names are valid style ids, sorted."""
    if not root.is_dir():
        raise RegistryError(f"registry {root} is not a directory")
    return sorted(p for p in root.iterdir() if p.is_dir() and STYLE_ID_RE.match(p.name))


def version_dirs(style_dir: Path) -> dict[int, Path]:
    """Numbered version folders of a style (temporary folders of writers are skipped)."""
    return {int(p.name): p for p in style_dir.iterdir() if p.is_dir() and VERSION_DIR_RE.match(p.name)}


def read_style_meta(style_dir: Path) -> StyleMeta:
    """Read style.json; a missing file gives defaults derived from the folder name."""
    path = style_dir / STYLE_FILE
    if not path.exists():
        return StyleMeta(id=style_dir.name, display_name=style_dir.name.replace("-", " ").title())
    data = _load_json(path)
    pinned = data.get("pinned_version")
    if pinned is not None and (not isinstance(pinned, int) or pinned < 1):
        raise RegistryError(f"{path}: pinned_version must be a positive integer or null, got {pinned!r}")
    return StyleMeta(
        id=style_dir.name,
        display_name=str(data.get("display_name") or style_dir.name),
        description=str(data.get("description", "")),
        credits=str(data.get("credits", "")),
        license=str(data.get("license", "")),
        pinned_version=pinned,
    )


def write_style_meta(style_dir: Path, meta: StyleMeta) -> None:
    """Write style.json atomically (temp file + rename)."""
    style_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "id": meta.id,
        "display_name": meta.display_name,
        "description": meta.description,
        "credits": meta.credits,
        "license": meta.license,
        "pinned_version": meta.pinned_version,
    }
    _atomic_write_text(style_dir / STYLE_FILE, json.dumps(data, indent=2) + "\n")


def set_pin(style_dir: Path, version: int | None) -> StyleMeta:
    """Pin a style to `version` (None removes the pin) and return the new metadata."""
    if version is not None and version not in version_dirs(style_dir):
        raise RegistryError(f"style {style_dir.name} has no version {version}")
    meta = read_style_meta(style_dir)
    meta = StyleMeta(**{**meta.__dict__, "pinned_version": version})
    write_style_meta(style_dir, meta)
    return meta


def read_manifest(version_dir: Path) -> Manifest:
    """Parse and schema-check manifest.json of one version folder; any problem is a RegistryError."""
    try:
        return _parse_manifest(version_dir)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, RegistryError):
            raise
        raise RegistryError(f"{MANIFEST_FILE} has a field of the wrong type: {exc}") from None


def _parse_manifest(version_dir: Path) -> Manifest:
    path = version_dir / MANIFEST_FILE
    if not path.exists():
        raise RegistryError(f"{path.name} is missing")
    data = _load_json(path)
    if data.get("format_version") != FORMAT_VERSION:
        raise RegistryError(f"format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}")
    artifacts = _require(data, "artifacts", dict)
    io = _require(data, "io", dict)
    _check_io(io, has_context="context_onnx" in artifacts)
    version = data.get("version")
    if VERSION_DIR_RE.match(version_dir.name) and version != int(version_dir.name):
        raise RegistryError(f"manifest says version {version!r} but lies in folder {version_dir.name}")
    return Manifest(
        style=str(data.get("style", version_dir.parent.name)),
        version=int(version),
        onnx=_artifact(artifacts, "onnx", required=True),
        context_onnx=_artifact(artifacts, "context_onnx"),
        preview=_artifact(artifacts, "preview"),
        tensorrt=tuple(_plan(p) for p in artifacts.get("tensorrt", [])),
        tiling=_tiling(_require(data, "tiling", dict), has_context="context_onnx" in artifacts),
        training=dict(data.get("training", {})),
        metrics=dict(data.get("metrics", {})),
        created=str(data.get("created", "")),
    )


def verify_checksums(version_dir: Path, manifest: Manifest) -> None:
    """Raise RegistryError naming the first artifact that is missing or whose sha256 differs."""
    for artifact in manifest.artifacts():
        path = version_dir / artifact.file
        if not path.is_file():
            raise RegistryError(f"artifact {artifact.file} is missing")
        actual = sha256_of(path)
        if actual != artifact.sha256:
            raise RegistryError(
                f"checksum mismatch for {artifact.file}: manifest says {artifact.sha256[:12]}..., "
                f"file has {actual[:12]}..."
            )


def write_version(
    registry_root: Path,
    style_id: str,
    files: dict[str, Path],
    manifest: dict[str, Any],
    style_meta: dict[str, Any] | None = None,
) -> int:
    """Add a new numbered version of a style atomically and return its number.

    `files` maps a file name inside the version folder to its source path. `manifest` holds `io`,
    `tiling`, `training`, `metrics` and `artifacts` naming files by "file"; this fills in the
    sha256 of every artifact, `format_version`, `style`, `version` and `created`. The version is
    built in a temporary folder beside the versions and renamed into place, so readers never see
    half of it. `style_meta` (display_name, description, credits, license) updates style.json.
    """
    if not STYLE_ID_RE.match(style_id):
        raise RegistryError(f"style id {style_id!r} must match {STYLE_ID_RE.pattern}")
    style_dir = Path(registry_root) / style_id
    style_dir.mkdir(parents=True, exist_ok=True)
    if style_meta is not None or not (style_dir / STYLE_FILE).exists():
        _update_style_meta(style_dir, style_meta or {})
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=style_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; a published version is readable by every server
    try:
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
        while True:
            number = max(version_dirs(style_dir), default=0) + 1
            _write_manifest(staging, manifest, style_id, number)
            read_manifest(staging)  # never publish a version that we could not read back
            try:
                os.rename(staging, style_dir / str(number))
                return number
            except OSError:
                if not (style_dir / str(number)).exists():
                    raise  # a real failure, not a race with another writer
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_manifest(staging: Path, manifest: dict[str, Any], style_id: str, number: int) -> None:
    artifacts = {}
    for role, entry in manifest.get("artifacts", {}).items():
        if role == "tensorrt":
            artifacts[role] = [{**plan, "sha256": sha256_of(staging / plan["file"])} for plan in entry]
        else:
            artifacts[role] = {**entry, "sha256": sha256_of(staging / entry["file"])}
    full = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "style": style_id,
        "version": number,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "artifacts": artifacts,
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(full, indent=2) + "\n")


def _update_style_meta(style_dir: Path, fields: dict[str, Any]) -> None:
    current = read_style_meta(style_dir)
    known = {k: v for k, v in fields.items() if k in ("display_name", "description", "credits", "license")}
    write_style_meta(style_dir, StyleMeta(**{**current.__dict__, **known}))


def _check_io(io: dict[str, Any], has_context: bool) -> None:
    expected = {"input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "NCHW", "color": "RGB",
                "dtype": "float32"}
    for key, value in expected.items():
        if io.get(key, value) != value:
            raise RegistryError(f"io.{key} must be {value!r}, got {io.get(key)!r}")
    if list(io.get("range", [-1.0, 1.0])) != [-1.0, 1.0]:
        raise RegistryError(f"io.range must be [-1.0, 1.0], got {io.get('range')!r}")
    if has_context != ("context_input" in io):
        raise RegistryError("io.context_input and artifacts.context_onnx must come together")


def _tiling(data: dict[str, Any], has_context: bool) -> Tiling:
    halo = _require(data, "halo", int, where="tiling")
    multiple = _require(data, "size_multiple", int, where="tiling")
    mode = data.get("mode", "crop")
    if halo < 0 or multiple < 1:
        raise RegistryError(f"tiling.halo must be >= 0 and size_multiple >= 1, got {halo} and {multiple}")
    if mode not in TILING_MODES:
        raise RegistryError(f"tiling.mode must be one of {TILING_MODES}, got {mode!r}")
    needs_thumbnail = bool(data.get("needs_thumbnail", has_context))
    if needs_thumbnail != has_context:
        raise RegistryError("tiling.needs_thumbnail must be true exactly when a context model is shipped")
    return Tiling(
        tile_safe=bool(data.get("tile_safe", mode == "crop")),
        halo=halo,
        size_multiple=multiple,
        mode=mode,
        needs_thumbnail=needs_thumbnail,
        thumbnail_size=int(data.get("thumbnail_size", 256)),
    )


def _artifact(artifacts: dict[str, Any], role: str, required: bool = False) -> Artifact | None:
    entry = artifacts.get(role)
    if entry is None:
        if required:
            raise RegistryError(f"artifacts.{role} is required")
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry.get("sha256"):
        raise RegistryError(f"artifacts.{role} needs a file name and a sha256")
    _check_file_name(entry["file"])
    return Artifact(file=entry["file"], sha256=str(entry["sha256"]))


def _plan(entry: dict[str, Any]) -> TensorRTPlan:
    try:
        _check_file_name(entry["file"])
        return TensorRTPlan(
            file=entry["file"],
            sha256=str(entry["sha256"]),
            compute_capability=str(entry["compute_capability"]),
            tensorrt_version=str(entry["tensorrt_version"]),
            precision=str(entry.get("precision", "fp16")),
            max_tile=int(entry.get("max_tile", 1024)),
        )
    except (KeyError, TypeError) as exc:
        raise RegistryError(f"artifacts.tensorrt entry lacks {exc}") from None


def _check_file_name(name: str) -> None:
    # A manifest must not point outside its own version folder.
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise RegistryError(f"artifact file name {name!r} must be a plain file name")


def _require(data: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        label = f"{where}.{key}" if where else key
        raise RegistryError(f"{label} must be a {kind.__name__}, got {value!r}")
    return value


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path.name} must hold a JSON object")
    return data


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)
