"""Where a publishing command writes into a model registry: checked before any work, then written.

Every command that publishes a version (export, reexport, import-cyclegan, import-teacher,
export-conditioned, fit-critic) calls ``check_destination`` before it loads or computes anything, so
a typo in ``--registry`` or a bad ``--style`` is refused with one line and nothing is created; and
writes through ``write_version``, which removes the staging folders of writers that were killed
(``tessera.registry.write_version`` builds each version in ``<style>/.tmp-*`` and renames it into
place) and notes when the new version's model files repeat the style's newest version byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tessera import registry
from tessera.registry import RegistryError
from tessera.registry.manifest_base import control_characters_problem

# A staging folder is copied into and renamed within seconds (all the slow work happens before, in a
# temporary folder elsewhere). One whose newest file is this old belongs to a writer that died.
STALE_STAGING_MINUTES = 30
STAGING_PREFIX = ".tmp-"
MODEL_SUFFIXES = (".onnx", ".plan")  # the files that make a version's model (previews are pictures of it)


def check_style_id(style: str) -> None:
    """RegistryError unless ``style`` is a style id as a whole (``$`` in STYLE_ID_PATTERN would also
    take a trailing newline with ``match``; a folder named so would be left behind)."""
    if not isinstance(style, str) or not registry.STYLE_ID_RE.fullmatch(style):
        raise RegistryError(f"{style!r} is not {registry.STYLE_ID_WORDS}")


def check_style_meta(style_meta: dict[str, Any] | None) -> None:
    """RegistryError when a style.json text given on the command line holds a line break or another
    control character (the rule the registry reads style.json by, ``control_characters_problem``):
    people read them in tables, logs and on the page."""
    for name, value in (style_meta or {}).items():
        problem = control_characters_problem(str(value))
        if problem:
            raise RegistryError(f"--{name.replace('_', '-')} {value!r} {problem}")


def check_destination(registry_root: Path, style: str, style_meta: dict[str, Any] | None = None) -> None:
    """RegistryError unless a version of ``style`` (with ``style_meta`` for its style.json) can be
    written into ``registry_root``: the registry folder must exist already (a typo would otherwise
    publish where no server looks); a new style folder inside it is fine."""
    check_style_id(style)
    check_style_meta(style_meta)
    root = Path(registry_root)
    if not root.exists():
        raise RegistryError(f"registry {root} does not exist; check the path (make the folder first for a new "
                            f"registry)")
    if not root.is_dir():
        raise RegistryError(f"registry {root} is a file, not a folder")
    style_dir = root / style
    if style_dir.exists() and not style_dir.is_dir():
        raise RegistryError(f"{style_dir} is a file, not a style folder")
    target = style_dir if style_dir.is_dir() else root
    if not os.access(target, os.W_OK | os.X_OK):
        raise RegistryError(f"cannot write into {target}: permission denied")


def read_version_manifest(version_dir: Path) -> dict:
    """The raw manifest.json of a registry version folder; RegistryError, worded, when it is not one."""
    version_dir = Path(version_dir)
    if not version_dir.is_dir():
        raise RegistryError(f"{version_dir} is not a registry version folder: "
                            f"{'it is a file' if version_dir.exists() else 'no such folder'}")
    path = version_dir / registry.MANIFEST_FILE
    if not path.is_file():
        raise RegistryError(f"{version_dir} holds no {registry.MANIFEST_FILE}: not a registry version folder")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise RegistryError(f"{path} is not a manifest (not a JSON object)")
    return raw


def write_version(registry_root: Path, style: str, files: dict[str, Path], manifest: dict[str, Any],
                  style_meta: dict[str, Any] | None = None, log=print) -> int:
    """``tessera.registry.write_version`` after checking the style id whole, clearing stale staging
    folders of the style and noting (through ``log``) a version whose model files repeat the newest."""
    check_style_id(style)
    check_style_meta(style_meta)
    style_dir = Path(registry_root) / style
    for stale in remove_stale_staging(style_dir):
        log(f"note: removed {stale}, left by a writer that did not finish")
    repeats = repeated_version(style_dir, files)
    number = registry.write_version(Path(registry_root), style, files, manifest, style_meta)
    if repeats is not None:
        log(f"note: version {number}'s model files are byte-identical to version {repeats}'s "
            f"(the same model published again)")
    return number


def remove_stale_staging(style_dir: Path, max_age_minutes: float = STALE_STAGING_MINUTES,
                         now: float | None = None) -> list[Path]:
    """Remove ``.tmp-*`` entries of a style folder in which nothing changed for ``max_age_minutes``
    (what a writer killed mid-write leaves); return them. Younger ones may be another writer's."""
    if not style_dir.is_dir():
        return []
    limit = (time.time() if now is None else now) - 60 * max_age_minutes
    removed = []
    for entry in sorted(style_dir.iterdir()):
        if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink():
            continue
        try:
            if _newest_change(entry) >= limit:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours to remove: it does no harm where it is
        removed.append(entry)
    return removed


def _newest_change(entry: Path) -> float:
    times = [entry.stat().st_mtime]
    if entry.is_dir():
        times += [p.stat().st_mtime for p in entry.rglob("*")]
    return max(times)


def repeated_version(style_dir: Path, files: dict[str, Path]) -> int | None:
    """The style's newest version number when its model files (ONNX files, TensorRT plans) are the
    same names with the same bytes as those in ``files``; else None."""
    versions = registry.version_dirs(style_dir) if style_dir.is_dir() else {}
    if not versions:
        return None
    newest = max(versions)
    try:
        old = {a.file: a.sha256 for a in registry.read_manifest(versions[newest]).files()
               if a.file.endswith(MODEL_SUFFIXES)}
    except (RegistryError, OSError, ValueError):
        return None  # an unreadable newest version is the server's to report, not a repeat
    new = {name: path for name, path in files.items() if name.endswith(MODEL_SUFFIXES)}
    if not new or set(new) != set(old):
        return None
    same = all(registry.sha256_of(path) == old[name] for name, path in new.items())
    return newest if same else None
