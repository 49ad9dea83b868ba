"""One style's state in the server: its loaded versions, the rejected ones, and which one serves.

A plain value that the store replaces on every scan; `serving` and `status_message` are the
rules of DESIGN.md §1, plus two of the server's own: a version marked unhealthy (NaN or infinity
on a served tile) is passed over while a healthy one exists, and a loaded version whose files
changed on disk keeps serving from memory, with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tessera.registry import StyleMeta

if TYPE_CHECKING:
    from inference_server.model_version import LoadedVersion

# The metric's reason for versions that loaded but should not serve (see StyleState.problems).
CHANGED_ON_DISK = "changed_on_disk"
NONFINITE_OUTPUT = "nonfinite_output"


@dataclass(frozen=True)
class Rejection:
    """Why a version on disk does not serve: `kind` for the metrics, `message` for a person."""

    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class StyleState:
    meta: StyleMeta
    versions: dict[int, LoadedVersion] = field(default_factory=dict)
    rejected: dict[int, Rejection] = field(default_factory=dict)
    problem: str = ""
    # Folder signatures: of rejected versions (retried when they change) and of loaded ones (watched).
    signatures: dict[int, tuple] = field(default_factory=dict)
    # Loaded versions whose files on disk no longer match what was loaded: number -> what changed.
    changed_on_disk: dict[int, str] = field(default_factory=dict)
    # Versions on disk that the version policy leaves unloaded (not validated yet), ascending.
    unloaded: tuple[int, ...] = ()
    # Versions removed from the registry that calls still ask for by number (a clip's later frames, a
    # call's further streams): they answer those for DRAIN_SECONDS after their last call (at most
    # REMOVED_DRAIN_MAX_S after the removal), serve no call that does not name them, and are retired then.
    draining: dict[int, LoadedVersion] = field(default_factory=dict)
    # The style's folder is gone from the registry: it has no versions but draining ones, is not listed
    # (ListStyles, Status, health) and, to a call that names no draining version, is an unknown style.
    removed: bool = False

    @property
    def serving(self) -> LoadedVersion | None:
        """The pinned version when it is valid and healthy, otherwise the newest healthy one; only
        when every loaded version is unhealthy, the newest of them (a broken pin is reported by
        status_message, and never takes the style offline)."""
        healthy = {n: m for n, m in self.versions.items() if not m.health_problem}
        candidates = healthy or self.versions
        pinned = self.meta.pinned_version
        if pinned in candidates:
            return candidates[pinned]
        return candidates[max(candidates)] if candidates else None

    @property
    def healthy(self) -> bool:
        """Whether a healthy version serves (what the style's health check reports)."""
        serving = self.serving
        return serving is not None and not serving.health_problem

    def problems(self) -> list[tuple[str, int]]:
        """(reason, version) for every version on disk that should not serve, for the metrics."""
        rows = [(r.kind, v) for v, r in self.rejected.items()]
        rows += [(CHANGED_ON_DISK, v) for v in self.changed_on_disk]
        return rows + [(NONFINITE_OUTPUT, v) for v, m in self.versions.items() if m.health_problem]

    def status_message(self) -> str:
        """Every problem a person should know about, most pressing first; "" when all is well."""
        messages = [self.problem] if self.problem else []
        serving = self.serving
        pinned = self.meta.pinned_version
        if pinned is not None and serving is not None and serving.version != pinned:
            reason = self._why_not(pinned)
            messages.append(f"pinned version {pinned} cannot serve ({reason}); serving version {serving.version} "
                            "instead")
        for number, model in sorted(self.versions.items()):
            if model.health_problem and number != pinned:
                instead = "no healthy version to fall back to" if serving is model else \
                    f"serving version {serving.version} instead"
                messages.append(f"version {number} is unhealthy: {model.health_problem}; {instead}")
        for number, change in sorted(self.changed_on_disk.items()):
            messages.append(f"version {number} changed on disk since it was loaded ({change}); the copy loaded in "
                            "memory still serves, a restart would reject it")
        newer = [v for v in self.rejected if not self.versions or v > max(self.versions)]
        if newer:
            messages.append(f"version {max(newer)} was rejected: {self.rejected[max(newer)]}")
        if not self.versions:
            messages.append("no valid version in the registry")
        return "; ".join(messages)

    def _why_not(self, number: int) -> str:
        if number in self.versions:
            return f"it is unhealthy: {self.versions[number].health_problem}"
        return str(self.rejected.get(number, "it does not exist"))
