"""What the server serves: the registry's styles, their loaded versions and why others were rejected.

`refresh` rescans the registry. New versions are validated and loaded in the caller's thread (the
watcher's, never a request's) and only then become visible; a version whose folder disappears is
retired and released after its last stream. Which version serves follows DESIGN.md §1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from inference_server.model_version import LoadedVersion, VersionRejected
from tessera.registry import RegistryError, StyleMeta, read_style_meta, set_pin, style_dirs, version_dirs

log = logging.getLogger(__name__)


class StyleNotFound(LookupError):
    pass


class StyleUnavailable(LookupError):
    pass


@dataclass
class StyleState:
    meta: StyleMeta
    versions: dict[int, LoadedVersion] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)
    problem: str = ""
    signatures: dict[int, tuple] = field(default_factory=dict)

    @property
    def serving(self) -> LoadedVersion | None:
        """The pinned version when it is valid, otherwise the newest valid one (a broken pin is
        reported by status_message, and never takes the style offline)."""
        pinned = self.meta.pinned_version
        if pinned in self.versions:
            return self.versions[pinned]
        return self.versions[max(self.versions)] if self.versions else None

    def status_message(self) -> str:
        if self.problem:
            return self.problem
        pinned = self.meta.pinned_version
        if pinned is not None and pinned not in self.versions:
            reason = self.rejected.get(pinned, "it does not exist")
            return f"pinned version {pinned} cannot serve ({reason}); serving the newest valid version instead"
        newer = [v for v in self.rejected if not self.versions or v > max(self.versions)]
        if newer:
            v = max(newer)
            return f"version {v} was rejected: {self.rejected[v]}"
        if not self.versions:
            return "no valid version in the registry"
        return ""


class ModelStore:
    """Thread-safe view of the registry. `loader` turns a version folder into a LoadedVersion."""

    def __init__(self, root: Path, loader: Callable[[Path], LoadedVersion],
                 on_change: Callable[[ModelStore], None] | None = None) -> None:
        self.root = Path(root)
        self._loader = loader
        self._on_change = on_change
        self._styles: dict[str, StyleState] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    def refresh(self) -> None:
        """Rescan the registry: load new versions, retire removed ones, reread pins."""
        with self._refresh_lock:
            found = {d.name: d for d in style_dirs(self.root)}
            for style_id, style_dir in found.items():
                self._refresh_style(style_id, style_dir)
            for gone in set(self._styles) - set(found):
                self._drop_style(gone)
        if self._on_change is not None:
            self._on_change(self)

    def styles(self) -> list[StyleState]:
        with self._lock:
            return [self._styles[k] for k in sorted(self._styles)]

    @contextmanager
    def lease(self, style: str, version: int = 0) -> Iterator[LoadedVersion]:
        """Hold a version for the length of a call; a removed version is released after it."""
        model = self._acquire(style, version)
        try:
            yield model
        finally:
            model.release()

    def pin(self, style: str, version: int | None) -> StyleState:
        """Pin (or with None, unpin) a style; the change is written to style.json."""
        state = self._state(style)
        if version is not None and version not in state.versions:
            reason = state.rejected.get(version, "it is not in the registry")
            raise StyleUnavailable(f"style {style} cannot pin version {version}: {reason}")
        set_pin(self.root / style, version)
        self.refresh()
        return self._state(style)

    def rollback(self, style: str) -> StyleState:
        """Pin the newest valid version below the one serving now."""
        state = self._state(style)
        serving = state.serving
        older = [v for v in state.versions if serving is not None and v < serving.version]
        if not older:
            raise StyleUnavailable(f"style {style} has no valid version older than the one serving")
        return self.pin(style, max(older))

    def close(self) -> None:
        with self._lock:
            states, self._styles = list(self._styles.values()), {}
        for state in states:
            for model in state.versions.values():
                model.retire()

    def _acquire(self, style: str, version: int) -> LoadedVersion:
        with self._lock:
            state = self._styles.get(style)
            if state is None:
                raise StyleNotFound(f"unknown style {style!r}; ListStyles gives the available ones")
            if version:
                model = state.versions.get(version)
                if model is None:
                    reason = state.rejected.get(version, "it does not exist")
                    raise StyleNotFound(f"style {style} has no servable version {version}: {reason}")
            else:
                model = state.serving
                if model is None:
                    raise StyleUnavailable(f"style {style} has no valid version: {state.status_message()}")
            return model.acquire()

    def _state(self, style: str) -> StyleState:
        with self._lock:
            if style not in self._styles:
                raise StyleNotFound(f"unknown style {style!r}")
            return self._styles[style]

    def _refresh_style(self, style_id: str, style_dir: Path) -> None:
        state = self._styles.get(style_id) or StyleState(meta=StyleMeta(id=style_id, display_name=style_id))
        try:
            meta, problem = read_style_meta(style_dir), ""
        except RegistryError as exc:
            meta, problem = state.meta, f"style.json is invalid: {exc}"
        on_disk = version_dirs(style_dir)
        loaded = dict(state.versions)
        # A rejected version is retried only when its folder changed (an operator fixed a copy).
        rejected = {n: r for n, r in state.rejected.items()
                    if n in on_disk and state.signatures.get(n) == _signature(on_disk[n])}
        signatures = {n: _signature(on_disk[n]) for n in on_disk if n not in loaded}
        for number in sorted(set(on_disk) - set(loaded) - set(rejected)):
            try:
                loaded[number] = self._loader(on_disk[number])
                log.info("loaded %s version %d", style_id, number)
            except VersionRejected as exc:
                rejected[number] = str(exc)
                log.warning("rejected %s version %d: %s", style_id, number, exc)
            except Exception as exc:  # one unforeseen failure must not stop the other versions loading
                rejected[number] = f"loading failed unexpectedly: {exc}"
                log.exception("rejected %s version %d", style_id, number)
        removed = [loaded.pop(n) for n in list(loaded) if n not in on_disk]
        with self._lock:
            self._styles[style_id] = StyleState(meta=meta, versions=loaded, rejected=rejected, problem=problem,
                                                signatures=signatures)
        for model in removed:
            log.info("retiring %s version %d (removed from the registry)", style_id, model.version)
            model.retire()

    def _drop_style(self, style_id: str) -> None:
        with self._lock:
            state = self._styles.pop(style_id)
        for model in state.versions.values():
            model.retire()


def _signature(version_dir: Path) -> tuple:
    """What changes when files in a version folder are added, replaced or rewritten."""
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in version_dir.iterdir()))
    except OSError:
        return ()
