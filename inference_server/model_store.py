"""What the server serves: the registry's styles, their loaded versions and why others were rejected.

`refresh` rescans the registry. New versions are validated and loaded in the caller's thread (the
watcher's or an admin call's, never a request's) and only then become visible; a version whose folder
disappears answers the calls that ask for it by number (a clip's later frames) for DRAIN_SECONDS after
its last, then is retired and released after its last stream; a style whose folder disappears is no
longer listed, serves no call that does not name a version, and its versions drain alike. A version
policy (`keep`, Triton's "latest N") loads only each style's newest `keep` healthy versions and a
pinned one: the rest stay on disk, unloaded and unvalidated, until a pin or a rollback asks for one.
A version that falls out of the policy stays loaded while calls use it and for DRAIN_SECONDS after
the last (a clip's later frames and a call's further streams ask for it by number), then is retired
like a removed one. The files of loaded versions are watched too: a version whose files change on
disk keeps serving from memory, and says so. Which version serves follows DESIGN.md §1, passing over
versions marked unhealthy while a healthy one exists.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from inference_server.model_version import LoadedVersion, VersionRejected
from inference_server.style_state import Rejection, StyleState
from inference_server.unknown_ids import unknown_id_message
from tessera.registry import (
    STYLE_FILE,
    STYLE_ID_RE,
    STYLE_ID_WORDS,
    VERSION_DIR_RE,
    VERSION_WORDS,
    RegistryError,
    StyleMeta,
    passed_over,
    read_manifest,
    read_style_meta,
    set_pin,
    style_dirs,
    style_folder_problem,
    verify_checksums,
    version_dirs,
)
from tessera.stop_signal import StopFlag

log = logging.getLogger(__name__)

# How long a version outside the version policy stays loaded after its last call: a clip asks for its
# first frame's version frame after frame, and a call's further streams for its first stream's.
DRAIN_SECONDS = 120.0
# A version removed from the registry answers calls that name it for DRAIN_SECONDS after its last, but never
# longer than this after its removal: a client that keeps asking for it by number cannot keep it alive.
REMOVED_DRAIN_MAX_S = 1800.0


class StyleNotFound(LookupError):
    pass


class StyleUnavailable(LookupError):
    pass


class ModelStore:
    """Thread-safe view of the registry. `loader` turns a version folder into a LoadedVersion."""

    def __init__(self, root: Path, loader: Callable[[Path], LoadedVersion],
                 on_change: Callable[[ModelStore], None] | None = None, keep: int = 0, workers: int = 1,
                 stopping: StopFlag | None = None) -> None:
        """`keep`: the newest healthy versions of each style to load, besides a pinned one; 0 loads all.
        `workers`: styles scanned (loaded, warmed) at once. Once `stopping` is set (the server is shutting
        down), scans load nothing more: a SIGTERM during a long start-up is not kept waiting for it."""
        self.root = Path(root)
        self._loader = loader
        self._keep = keep
        self._workers = workers
        self._stopping = stopping or threading.Event()
        self._on_change = on_change
        self._styles: dict[str, StyleState] = {}
        # (style, version) -> why it was marked unhealthy: a copy loaded again (after the policy let it
        # go) is unhealthy too, until the server restarts.
        self._verdicts: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        # Held by scans and by pin and rollback, which scan within: one change to the registry at a time.
        self._refresh_lock = threading.RLock()
        self._passed_over: set[Path] = set()  # folders whose names a scan passes over, already logged
        self._removed_at: dict[tuple[str, int], float] = {}  # (style, version) -> when a scan found it gone
        self._report_lock = threading.Lock()

    def refresh(self) -> None:
        """Rescan the registry: load new versions, retire removed ones, reread pins. Styles are scanned
        `workers` at a time: loading and warming a version runs on one core, so at start-up, with every
        style to load, one worker per core takes about half the time on two."""
        with self._refresh_lock:
            found = {d.name: d for d in style_dirs(self.root)}
            self._say_passed_over(self.root, STYLE_ID_RE, "style")
            with ThreadPoolExecutor(max(1, min(self._workers, len(found)))) as pool:
                list(pool.map(self._refresh_style, found, found.values()))
            for gone in sorted(set(self._styles) - set(found)):
                self._refresh_style(gone, None)
        self._changed()

    def _say_passed_over(self, folder: Path, name_re, kind: str) -> None:
        """Logs, once per folder, a folder the scan passes over for its name ('My Style', a version '024'),
        which an operator may have meant to publish."""
        for name in passed_over(folder, name_re):
            if (folder / name) not in self._passed_over:
                self._passed_over.add(folder / name)
                log.warning("registry: %r is passed over: %r is not a valid %s folder name (%s)", str(folder / name),
                            name, kind, STYLE_ID_WORDS if kind == "style" else VERSION_WORDS)

    def _changed(self) -> None:
        # A scan (the watcher, an admin call) and a tile marking a version unhealthy may both report.
        if self._on_change is not None:
            with self._report_lock:
                self._on_change(self)

    def version_unhealthy(self, model: LoadedVersion) -> None:
        """A version was just marked unhealthy (by a served tile): log it, remember it and republish health."""
        log.error("%s version %d is unhealthy: %s", model.style, model.version, model.health_problem)
        with self._lock:
            self._verdicts[(model.style, model.version)] = model.health_problem
        self._changed()

    def styles(self) -> list[StyleState]:
        """The registry's styles, by id: a removed style whose versions still drain is not among them."""
        with self._lock:
            return [self._styles[k] for k in sorted(self._styles) if not self._styles[k].removed]

    @contextmanager
    def lease(self, style: str, version: int = 0) -> Iterator[LoadedVersion]:
        """Hold a version for the length of a call; a removed version is released after it."""
        model = self._acquire(style, version)
        try:
            yield model
        finally:
            model.release()

    def pin(self, style: str, version: int | None) -> StyleState:
        """Pin (or with None, unpin) a style; the change is written to style.json. A version the policy
        left unloaded is loaded and validated first, and only then pinned. Raises StyleUnavailable when
        the version is not in the registry or fails validation (the pin is then unchanged)."""
        with self._refresh_lock:
            self._state(style)  # StyleNotFound for any other name: an unpin of '../x' wrote a style.json there
            if version is not None:
                self._loaded(style, version)
            set_pin(self.root / style, version)
            self.refresh()
            return self._state(style)

    def rollback(self, style: str) -> StyleState:
        """Pin the newest valid, healthy version below the one serving now, loading it if the policy had
        not. Raises StyleUnavailable, with each older version's reason, when there is none."""
        with self._refresh_lock:
            self.refresh()  # the candidates as the registry holds them now
            state = self._state(style)
            if state.serving is None:
                raise StyleUnavailable(f"style {style} has no version serving to roll back from")
            below = state.serving.version
            older = sorted((v for v in (*state.versions, *state.unloaded) if v < below), reverse=True)
            reasons = [f"version {n} was rejected: {r}" for n, r in sorted(state.rejected.items(), reverse=True)
                       if n < below]
            for number in older:
                try:
                    model = self._loaded(style, number)
                except StyleUnavailable as exc:
                    reasons.append(str(exc))
                    continue
                if model.health_problem:
                    reasons.append(f"version {number} is unhealthy: {model.health_problem}")
                    continue
                set_pin(self.root / style, number)
                self.refresh()
                return self._state(style)
            why = f" ({'; '.join(reasons)})" if reasons else ""
            raise StyleUnavailable(f"style {style} has no valid version older than the one serving{why}")

    def _loaded(self, style: str, version: int) -> LoadedVersion:
        """The version, loaded now if the policy had left it unloaded (it then stays loaded while pinned,
        or until the next scan); raises StyleUnavailable when it is not in the registry or fails to load."""
        state = self._state(style)
        if version in state.versions:
            return state.versions[version]
        if version not in state.unloaded:
            reason = state.rejected.get(version, "it is not in the registry")
            raise StyleUnavailable(f"style {style} cannot pin version {version}: {reason}")
        folder = self.root / style / str(version)
        signature = _signature(folder)
        outcome = self._load(style, version, folder)
        with self._lock:
            current = self._styles[style]
            unloaded = tuple(n for n in current.unloaded if n != version)
            signatures = {**current.signatures, version: signature}
            if isinstance(outcome, Rejection):
                self._styles[style] = replace(current, rejected={**current.rejected, version: outcome},
                                              signatures=signatures, unloaded=unloaded)
            else:
                self._styles[style] = replace(current, versions={**current.versions, version: outcome},
                                              signatures=signatures, unloaded=unloaded)
        if isinstance(outcome, Rejection):
            raise StyleUnavailable(f"style {style} cannot pin version {version}: {outcome}")
        return outcome

    def close(self) -> None:
        with self._lock:
            states, self._styles = list(self._styles.values()), {}
        for state in states:
            for model in [*state.versions.values(), *state.draining.values()]:
                model.retire()

    def _acquire(self, style: str, version: int) -> LoadedVersion:
        with self._lock:
            state = self._styles.get(style)
            # A removed style answers only the calls that name a version it drains: to any other, it is unknown.
            if state is None or (state.removed and version not in state.draining):
                raise StyleNotFound(unknown_id_message("style", style, self._listed(), "this server serves"))
            if version:
                model = state.versions.get(version) or state.draining.get(version)
                if model is None:
                    reason = state.rejected.get(version, "it does not exist")
                    if version in state.unloaded:
                        reason = (f"it is not loaded: this server loads the newest {self._keep} healthy versions "
                                  "of a style (--load-versions); pinning it loads it")
                    servable = ", ".join(map(str, sorted(state.versions))) or "none"
                    raise StyleNotFound(f"style {style} has no servable version {version}: {reason}; "
                                        f"its servable versions: {servable}")
            else:
                model = state.serving
                if model is None:
                    raise StyleUnavailable(f"style {style} has no valid version: {state.status_message()}")
            return model.acquire()

    def _state(self, style: str) -> StyleState:
        with self._lock:
            if style not in self._styles or self._styles[style].removed:
                raise StyleNotFound(unknown_id_message("style", style, self._listed(), "this server serves"))
            return self._styles[style]

    def _listed(self) -> list[str]:
        """The ids of the styles `styles()` lists; the caller holds the lock."""
        return sorted(k for k, s in self._styles.items() if not s.removed)

    def _refresh_style(self, style_id: str, style_dir: Path | None) -> None:
        """Rescan one style folder. `style_dir` None: the folder is gone, and every version drains or is
        retired as a removed version folder's does; the style goes once its last version is retired."""
        state = self._styles.get(style_id) or StyleState(meta=StyleMeta(id=style_id, display_name=style_id))
        if style_dir is None:
            meta, problem, on_disk = state.meta, state.problem, {}
        else:
            try:
                meta, problem = read_style_meta(style_dir), ""
            except RegistryError as exc:
                meta, problem = state.meta, str(exc)  # names the file and the field: "style.json: display_name: ..."
            if problem != state.problem:  # logged once, when it appears, changes or goes
                if problem:
                    log.warning("registry: %r is invalid: %s", str(style_dir / STYLE_FILE), problem)
                else:
                    log.info("registry: %r is valid again", str(style_dir / STYLE_FILE))
            on_disk = version_dirs(style_dir)
            self._say_passed_over(style_dir, VERSION_DIR_RE, "version")
        loaded = {n: m for n, m in state.versions.items() if n in on_disk}
        gone = {**state.draining, **{n: m for n, m in state.versions.items() if n not in on_disk}}
        now = time.monotonic()
        for number in gone:
            self._removed_at.setdefault((style_id, number), now)
        draining = {n: m for n, m in gone.items() if n not in on_disk and m.in_use(DRAIN_SECONDS)
                    and now - self._removed_at[(style_id, n)] < REMOVED_DRAIN_MAX_S}
        removed = [m for n, m in gone.items() if n not in draining and n not in loaded]
        for model in removed:
            self._removed_at.pop((style_id, model.version), None)
        # A rejected version is retried only when its folder changed (an operator fixed a copy).
        rejected = {n: r for n, r in state.rejected.items()
                    if n in on_disk and state.signatures.get(n) == _signature(on_disk[n])}
        signatures = {n: state.signatures.get(n) or _signature(on_disk[n]) for n in loaded}
        signatures |= {n: state.signatures[n] for n in rejected}  # kept, or the next scan would retry them
        changed = self._check_loaded(style_id, loaded, on_disk, state, signatures)
        wanted = self._load_wanted(style_id, on_disk, loaded, rejected, signatures, meta.pinned_version)
        removed += [loaded.pop(n) for n in sorted(set(loaded) - wanted) if not loaded[n].in_use(DRAIN_SECONDS)]
        unloaded = tuple(sorted(set(on_disk) - set(loaded) - set(rejected)))
        signatures = {n: v for n, v in signatures.items() if n in loaded or n in rejected}
        before, state = state, StyleState(meta=meta, versions=loaded, rejected=rejected, problem=problem,
                                          signatures=signatures, unloaded=unloaded, draining=draining,
                                          changed_on_disk={n: c for n, c in changed.items() if n in loaded},
                                          removed=style_dir is None)
        self._say_removed(style_id, before, state)
        if state.serving is not None and not self._stopping.is_set():
            # Before it takes traffic, with the tile shapes the version it replaces compiled for; older
            # versions stay cold until they serve.
            replaced = before.serving if before.serving is not state.serving else None
            state.serving.warm_up(replaced.static_tile_sizes() if replaced is not None else [])
        with self._lock:
            if state.removed and not state.draining:
                self._styles.pop(style_id, None)  # its last version retired: the style is gone
            else:
                self._styles[style_id] = state
        for model in removed:
            log.info("retiring %s version %d (%s)", style_id, model.version, _why_retired(model, gone, on_disk))
            model.retire()

    def _say_removed(self, style_id: str, before: StyleState, after: StyleState) -> None:
        """Logs, once each, a style folder found removed (with the versions that drain) or back (with the
        version that serves, if one does), or a version folder removed."""
        folder = str(self.root / style_id)
        if after.removed:
            if not before.removed:
                log.info("registry: %r was removed: %s", folder, _removal_words(style_id, before, after.draining))
            return
        if before.removed:
            log.info("registry: %r is back: %s", folder, _return_words(style_id, after))
        for number in sorted(set(after.draining) - set(before.draining)):
            log.info("%s version %d was removed from the registry: it answers calls that ask for it by number "
                     "(a clip's later frames) for %.0f s after its last, then is retired", style_id, number,
                     DRAIN_SECONDS)

    def _load_wanted(self, style_id: str, on_disk: dict[int, Path], loaded: dict[int, LoadedVersion],
                     rejected: dict[int, Rejection], signatures: dict[int, tuple], pinned: int | None) -> set[int]:
        """Load what the version policy wants and is not loaded yet, newest first, into `loaded` (or
        `rejected`); return the numbers it wants: the newest `keep` healthy valid versions (every one
        when `keep` is 0), the unhealthy and rejected ones newer than the last of those, and the pin."""
        wanted, healthy = set(), 0
        for number in sorted(on_disk, reverse=True):
            if (self._keep and healthy >= self._keep and number != pinned) or number in rejected:
                continue
            if number not in loaded and self._stopping.is_set():
                continue
            if number not in loaded:
                signatures[number] = _signature(on_disk[number])  # before loading: a change during it shows later
                outcome = self._load(style_id, number, on_disk[number])
                if isinstance(outcome, Rejection):
                    rejected[number] = outcome
                    continue
                loaded[number] = outcome
            wanted.add(number)
            healthy += not loaded[number].health_problem
        return wanted

    def _load(self, style_id: str, number: int, version_dir: Path) -> LoadedVersion | Rejection:
        try:
            model = self._loader(version_dir)
            # load_version reads a version folder alone; the store knows whose style folder it lies in.
            wrong_style = style_folder_problem(model.manifest.style, style_id)
            if wrong_style:
                model.retire()
                raise VersionRejected(wrong_style, "manifest")
            with self._lock:
                verdict = self._verdicts.get((style_id, number))
            if verdict:
                model.keep_unhealthy(verdict)
        except VersionRejected as exc:
            log.warning("rejected %s version %d: %s", style_id, number, exc)
            return Rejection(exc.kind, str(exc))
        except Exception as exc:  # one unforeseen failure must not stop the other versions loading
            log.exception("rejected %s version %d", style_id, number)
            return Rejection("unexpected", f"loading failed unexpectedly: {exc}")
        log.info("loaded %s version %d", style_id, number)
        return model

    def _check_loaded(self, style_id: str, loaded: dict[int, LoadedVersion], on_disk: dict[int, Path],
                      state: StyleState, signatures: dict[int, tuple]) -> dict[int, str]:
        """What changed on disk in loaded versions' folders; files are hashed again only when their
        size or modification time moved, so an idle scan reads no model bytes."""
        changed = {}
        for number, model in loaded.items():
            now = _signature(on_disk[number])
            if now == signatures[number]:
                if number in state.changed_on_disk:
                    changed[number] = state.changed_on_disk[number]
                continue
            signatures[number] = now
            change = _what_changed(on_disk[number], model)
            if change:
                changed[number] = change
                log.error("%s version %d changed on disk since it was loaded: %s; still serving the copy in memory",
                          style_id, number, change)
            elif number in state.changed_on_disk:
                log.info("%s version %d matches what was loaded again", style_id, number)
        return changed


def _removal_words(style_id: str, before: StyleState, draining: dict[int, LoadedVersion]) -> str:
    """What a style folder's removal ends, for its log line: a style that never served (every version
    rejected) does not "no longer serve"."""
    if before.serving is not None:
        return f"style {style_id} no longer serves; {_draining_words(draining)}"
    drains = f"; {_draining_words(draining)}" if draining else ""
    return f"style {style_id} is gone; it had no version serving{drains}"


def _return_words(style_id: str, after: StyleState) -> str:
    """What a style folder put back serves, for its log line."""
    if after.serving is not None:
        return f"style {style_id} serves again (version {after.serving.version})"
    return f"style {style_id} is listed again, with no version serving ({after.status_message()})"


def _draining_words(draining: dict[int, LoadedVersion]) -> str:
    """What becomes of a removed style's versions, for its log line."""
    if not draining:
        return "its versions are retired"
    numbers = ", ".join(map(str, sorted(draining)))
    some, them = ("versions", "them") if len(draining) > 1 else ("version", "it")
    return (f"{some} {numbers} still answer{'' if len(draining) > 1 else 's'} calls that ask for {them} by "
            f"number (a clip's later frames) until {DRAIN_SECONDS:.0f} s after the last such call, at most "
            f"{REMOVED_DRAIN_MAX_S:.0f} s after the removal, then {'are' if len(draining) > 1 else 'is'} retired")


def _why_retired(model: LoadedVersion, gone: dict[int, LoadedVersion], on_disk: dict[int, Path]) -> str:
    """Why a version is retired, for its log line."""
    if gone.get(model.version) is not model:
        return "outside the version policy"
    if model.version in on_disk:  # removed, and put back while it drained: the folder's files load afresh
        return "its folder came back: the copy loaded before the removal is released"
    return "removed from the registry"


def _what_changed(version_dir: Path, model: LoadedVersion) -> str:
    """How a loaded version's folder now differs from what was loaded ("" when it matches again)."""
    try:
        if read_manifest(version_dir) != model.manifest:
            return "manifest.json differs"
        verify_checksums(version_dir, model.manifest)
    except RegistryError as exc:
        return str(exc)
    return ""


def _signature(version_dir: Path) -> tuple:
    """What changes when files in a version folder are added, replaced or rewritten."""
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in version_dir.iterdir()))
    except OSError:
        return ()
