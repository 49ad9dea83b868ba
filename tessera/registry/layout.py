"""The model registry's on-disk layout: style folders, numbered immutable versions, style.json, pins.

This module is the only code that knows where files lie (docs/registry.md). It reads and writes
them atomically and verifies checksums; the manifest's schema is `manifest.py`'s, and loading and
probing models is the server's job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tessera.registry.kinds import Manifest, parse_manifest, read_manifest
from tessera.registry.manifest import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    STYLE_ID_PATTERN,
    RegistryError,
    load_json,
)
from tessera.registry.manifest_base import control_characters_problem

STYLE_FILE = "style.json"
# Match names with `fullmatch`: `$` also matches before a final line break, so `match` takes 'tiny\n'.
STYLE_ID_RE = re.compile(STYLE_ID_PATTERN)
VERSION_DIR_RE = re.compile(r"^[1-9][0-9]{0,8}$")
# What a style id is, in words, for messages about folder names (STYLE_ID_PATTERN).
STYLE_ID_WORDS = ("a style id: 1 to 64 lower-case letters, digits, dashes and underscores, starting with a letter "
                  "or digit")
VERSION_WORDS = "a version number from 1, without leading zeros"
# The fields of style.json, all text that people read (`tessera styles`, the page), besides the pin.
STYLE_TEXT_FIELDS = ("display_name", "description", "credits", "license")


@dataclass(frozen=True)
class StyleMeta:
    """What style.json says about a style."""

    id: str
    display_name: str
    description: str = ""
    credits: str = ""
    license: str = ""
    pinned_version: int | None = None


def style_dirs(root: Path) -> list[Path]:
    """Folders under the registry root whose names are valid style ids, sorted."""
    if not root.is_dir():
        raise RegistryError(f"registry {root} is not a directory")
    return sorted(p for p in root.iterdir() if p.is_dir() and STYLE_ID_RE.fullmatch(p.name))


def passed_over(folder: Path, name_re: re.Pattern) -> list[str]:
    """Names of the folders in `folder` that a scan passes over because `name_re` does not take them
    (a style folder named 'My Style', a version folder '024'), sorted; hidden ones (a writer's '.tmp-'
    staging folder among them) are not listed."""
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and not name_re.fullmatch(p.name))


def version_dirs(style_dir: Path) -> dict[int, Path]:
    """Numbered version folders of a style (temporary folders of writers are skipped)."""
    return {int(p.name): p for p in style_dir.iterdir() if p.is_dir() and VERSION_DIR_RE.fullmatch(p.name)}


def newest_version_dir(style_dir: Path) -> Path:
    """The highest numbered version folder of a style. Raises FileNotFoundError when it has none."""
    versions = version_dirs(style_dir) if style_dir.is_dir() else {}
    if not versions:
        raise FileNotFoundError(f"{style_dir} holds no numbered version folder")
    return versions[max(versions)]


def read_style_meta(style_dir: Path) -> StyleMeta:
    """Read style.json; a missing file gives defaults derived from the folder name. RegistryError names
    the field: "style.json: display_name: ...". Text fields must be strings people can read: no control
    characters or line breaks (they are printed in tables and logs)."""
    path = style_dir / STYLE_FILE
    if not path.exists():
        return StyleMeta(id=style_dir.name, display_name=style_dir.name.replace("-", " ").title())
    data = load_json(path)
    pinned = data.get("pinned_version")
    if pinned is not None and (isinstance(pinned, bool) or not isinstance(pinned, int) or pinned < 1):
        raise RegistryError(f"{STYLE_FILE}: pinned_version: must be a positive integer or null (got {pinned!r})")
    text = {}
    for name in STYLE_TEXT_FIELDS:
        value = data.get(name) or ""
        if not isinstance(value, str):
            raise RegistryError(f"{STYLE_FILE}: {name}: must be a string (got {value!r})")
        problem = control_characters_problem(value)
        if problem:
            raise RegistryError(f"{STYLE_FILE}: {name}: {problem}")
        text[name] = value
    return StyleMeta(id=style_dir.name, **{**text, "display_name": text["display_name"] or style_dir.name},
                     pinned_version=pinned)


def write_style_meta(style_dir: Path, meta: StyleMeta) -> None:
    """Write style.json atomically (temp file + rename); RegistryError for text read_style_meta refuses."""
    for name in STYLE_TEXT_FIELDS:
        problem = control_characters_problem(getattr(meta, name))
        if problem:
            raise RegistryError(f"{STYLE_FILE}: {name}: {problem}")
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


def verify_checksums(version_dir: Path, manifest: Manifest) -> None:
    """Raise RegistryError naming the first artifact that is missing or whose sha256 differs."""
    for artifact in manifest.files():
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
    if not STYLE_ID_RE.fullmatch(style_id):
        raise RegistryError(f"style id {style_id!r} must match {STYLE_ID_RE.pattern}")
    # Everything that can be refused is refused before a folder is made: no empty style folder is left.
    _check_style_texts(style_meta or {})
    parse_manifest(_full_manifest(manifest, style_id, 1, lambda name: "0" * 64), style=style_id)
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


def published_files(version_dir: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """(manifest without the fields `write_version` fills in, {file name: path} of every file it lists:
    artifacts and presets' pictures) of a published version: what republishing it as another version
    starts from (a re-export, a bf16 form, a rewritten graph)."""
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text())
    for key in ("format_version", "style", "version", "created"):
        manifest.pop(key, None)
    for entry in manifest["artifacts"].values():
        for item in entry if isinstance(entry, list) else [entry]:
            item.pop("sha256", None)  # write_version writes the artifacts' own
    files = {item.file: version_dir / item.file for item in read_manifest(version_dir).files()}
    return manifest, files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_manifest(staging: Path, manifest: dict[str, Any], style_id: str, number: int) -> None:
    full = _full_manifest(manifest, style_id, number, lambda name: sha256_of(staging / name))
    (staging / MANIFEST_FILE).write_text(json.dumps(full, indent=2) + "\n")


def _full_manifest(manifest: dict[str, Any], style_id: str, number: int, checksum) -> dict[str, Any]:
    """`manifest` with what `write_version` fills in: each artifact's sha256 (``checksum(file name)``),
    `format_version`, `style`, `version` and `created`. An artifact entry of the wrong shape is passed
    on as it is, for the schema to name."""

    def with_sha(item: Any) -> Any:
        if isinstance(item, dict) and isinstance(item.get("file"), str):
            return {**item, "sha256": checksum(item["file"])}
        return item

    artifacts = manifest.get("artifacts", {})
    if isinstance(artifacts, dict):
        artifacts = {role: [with_sha(item) for item in entry] if isinstance(entry, list) else with_sha(entry)
                     for role, entry in artifacts.items()}
    return {
        **manifest,
        "format_version": FORMAT_VERSION,
        "style": style_id,
        "version": number,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "artifacts": artifacts,
    }


def _check_style_texts(fields: dict[str, Any]) -> None:
    """RegistryError naming the field when a style.json text `write_version` was given is one that
    read_style_meta would refuse: not a string, or holding a control character."""
    for name in STYLE_TEXT_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RegistryError(f"{STYLE_FILE}: {name}: must be a string (got {value!r})")
        problem = control_characters_problem(value)
        if problem:
            raise RegistryError(f"{STYLE_FILE}: {name}: {problem}")


def _update_style_meta(style_dir: Path, fields: dict[str, Any]) -> None:
    current = read_style_meta(style_dir)
    known = {k: v for k, v in fields.items() if k in ("display_name", "description", "credits", "license")}
    write_style_meta(style_dir, StyleMeta(**{**current.__dict__, **known}))


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)
