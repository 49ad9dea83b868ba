"""Which schema reads a manifest.json: the one its `kind` names (the fixed-style generator,
manifest.py; the style-conditioned model, conditioned.py), and reading one from a version folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tessera.registry.conditioned import CONDITIONED, ConditionedManifest
from tessera.registry.manifest import (
    FORMAT_VERSION,
    GENERATOR,
    MANIFEST_FILE,
    BaseManifest,
    GeneratorManifest,
    RegistryError,
    describe,
    load_json,
)

# kind -> schema. A new kind of model adds its class here and to `Manifest`.
MANIFEST_KINDS: dict[str, type[BaseManifest]] = {GENERATOR: GeneratorManifest, CONDITIONED: ConditionedManifest}
Manifest = GeneratorManifest | ConditionedManifest


def parse_manifest(data: Any, folder: str | None = None, style: str | None = None) -> Manifest:
    """Check a decoded manifest.json against its schema; `folder` is the version folder's name, `style`
    the style folder's (given when the folder is known to lie in a registry, as the server's are).

    Raises RegistryError whose message names the field ("tiling.halo: ...").
    """
    if not isinstance(data, dict):
        raise RegistryError(f"{MANIFEST_FILE} must hold a JSON object")
    # format_version and kind come first: they decide which schema the rest is read with.
    if data.get("format_version") != FORMAT_VERSION:
        raise RegistryError(f"format_version must be {FORMAT_VERSION}, got {data.get('format_version')!r}")
    kind = data.get("kind", GENERATOR)
    if kind not in MANIFEST_KINDS:
        raise RegistryError(f"kind must be one of {sorted(MANIFEST_KINDS)}, got {kind!r}")
    if folder is not None and folder.isdigit() and data.get("version") != int(folder):
        raise RegistryError(f"manifest says version {data.get('version')!r} but lies in folder {folder}: a copied "
                            f"version must say its folder's number (\"version\": {int(folder)} in {MANIFEST_FILE})")
    wrong_style = style_folder_problem(data.get("style"), style) if style is not None else ""
    if wrong_style:
        raise RegistryError(wrong_style)
    try:
        return MANIFEST_KINDS[kind].model_validate(data)
    except ValidationError as exc:
        raise RegistryError(f"{MANIFEST_FILE}: {describe(exc)}") from None


def style_folder_problem(stated: Any, style: str) -> str:
    """Why a manifest whose `style` is `stated` may not serve from the folder of style `style` ("" when it may):
    a version copied from another style's folder keeps that style's name."""
    return "" if stated == style else (f"manifest says style {stated!r} but lies in style folder {style}: a copied "
                                       f"version must name its style (\"style\": \"{style}\" in {MANIFEST_FILE})")


def read_manifest(version_dir: Path, style: str | None = None) -> Manifest:
    """Parse and schema-check manifest.json of one version folder; any problem is a RegistryError.
    With `style` (the server passes its style folder's name) the manifest must name that style: a
    version copied from another style's folder serves only once its manifest says so."""
    path = Path(version_dir) / MANIFEST_FILE
    if not path.exists():
        raise RegistryError(f"{MANIFEST_FILE} is missing")
    return parse_manifest(load_json(path), Path(version_dir).name, style)
