"""Training health: notice the GAN failure modes while a run trains, and say what was done about them.

Three checks, each a known way for a GAN run to go wrong:
- **non-finite losses**: a NaN or infinity in any loss (the run cannot recover from it by itself);
- **the discriminator wins outright**: every discriminator loss stays under ``watch_d_floor`` for
  ``watch_window`` steps while the generator's adversarial loss has climbed (its mean over those steps
  is more than ``1 + watch_g_rise`` times its mean over the run's first ``watch_window`` steps): the
  generator gets no useful gradient any more;
- **collapse**: the generator's outputs for a fixed probe batch of different inputs become nearly the
  same picture. Diversity (``diversity``) is the outputs' mean pairwise distance over their mean
  deviation; a value under ``watch_min_diversity`` is collapse. The check starts after the first
  ``watch_window`` steps: a freshly initialised generator's output hardly depends on its input yet.

What happens then is ``watchdog``: ``stop`` ends the run, ``rollback`` returns to the last checkpoint
saved while the run was healthy and multiplies every learning rate by ``watch_lr_factor`` (at most
``watch_max_rollbacks`` times, then it stops), ``warn`` only logs. Every event goes into
``health.jsonl`` and the summary ``run_report.json`` of the run directory.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

HEALTH_FILE = "health.jsonl"
REPORT_FILE = "run_report.json"
ACTIONS = ("off", "warn", "stop", "rollback")


@dataclass(frozen=True)
class HealthEvent:
    step: int
    problem: str  # "non_finite", "discriminator_wins" or "collapse"
    message: str
    action: str  # what the run did: "warned", "stopped", "rolled_back"


class TrainingStopped(Exception):
    """The watchdog ended the run; the message says why."""


def diversity(outputs: torch.Tensor) -> float:
    """How different a batch's outputs [N, C, H, W] (N >= 2) are from each other: their mean pairwise L1
    distance over their mean absolute deviation from their overall mean. Scale-free: about 1 for
    outputs that differ as much as they vary (also a fresh generator's tiny outputs), 0 when every input
    gave the same picture."""
    flat = outputs.flatten(1).double()
    pairwise = torch.cdist(flat, flat, p=1).sum() / (len(flat) * (len(flat) - 1) * flat.shape[1])
    deviation = (flat - flat.mean()).abs().mean()
    return float(pairwise / deviation) if deviation > 0 else 0.0


class Watchdog:
    """Fed every step's losses (and sometimes the probe batch's diversity); answers what is wrong, if anything."""

    def __init__(self, cfg, d_losses: tuple[str, ...], g_adversarial: tuple[str, ...]):
        self.cfg = cfg
        self.d_losses, self.g_adversarial = d_losses, g_adversarial
        self.window: deque[tuple[float, float]] = deque(maxlen=cfg.watch_window)
        self.baseline: list[float] = []  # the generator's adversarial loss over the first window of steps
        self.events: list[HealthEvent] = []
        self.rollbacks = 0
        self.healthy_since_save = True
        self.d_low_streak = 0  # steps in a row with every discriminator loss under the floor

    @property
    def enabled(self) -> bool:
        return self.cfg.watchdog != "off"

    def check_losses(self, step: int, losses: dict[str, float]) -> tuple[str, str] | None:
        """(problem, message) when this step's losses show one, else None."""
        bad = sorted(k for k, v in losses.items() if not math.isfinite(v))
        if bad:
            return "non_finite", f"step {step}: loss {', '.join(bad)} is not finite ({losses[bad[0]]})"
        d_names = [k for k in self.d_losses if k in losses]
        g_names = [k for k in self.g_adversarial if k in losses]
        if not d_names or not g_names:  # no discriminator (plain regression): nothing can win
            return None
        d = max(losses[k] for k in d_names)
        g = sum(losses[k] for k in g_names)
        if len(self.baseline) < self.cfg.watch_window:
            self.baseline.append(g)
        self.window.append((d, g))
        self.d_low_streak = self.d_low_streak + 1 if d < self.cfg.watch_d_floor else 0
        if len(self.window) < self.window.maxlen or max(x for x, _ in self.window) >= self.cfg.watch_d_floor:
            return None
        early = sum(self.baseline) / len(self.baseline)
        late = sum(g for _, g in self.window) / len(self.window)
        if late > early * (1 + self.cfg.watch_g_rise):
            return "discriminator_wins", (
                f"step {step}: the discriminator is winning outright: its loss stayed under "
                f"{self.cfg.watch_d_floor:g} for {len(self.window)} steps while the generator's adversarial loss "
                f"climbed from {early:.3f} (the run's first steps) to {late:.3f}")
        return None

    def checks_diversity(self, step: int) -> bool:
        """Whether ``step`` is one for the collapse check (every watch_every steps, after the first window)."""
        return step + 1 >= self.cfg.watch_window and (step + 1) % self.cfg.watch_every == 0

    def check_diversity(self, step: int, value: float) -> tuple[str, str] | None:
        if value < self.cfg.watch_min_diversity:
            return "collapse", (f"step {step}: the generator is collapsing: its outputs for the fixed probe "
                                f"batch have a diversity of {value:.3f} "
                                f"(threshold {self.cfg.watch_min_diversity:g})")
        return None

    def decide(self, step: int, problem: str, message: str) -> str:
        """Record the problem and return the action to take: "warned", "stopped" or "rolled_back"."""
        self.healthy_since_save = False
        self.window.clear()
        action = {"warn": "warned", "stop": "stopped", "rollback": "rolled_back"}[self.cfg.watchdog]
        if action == "rolled_back" and self.rollbacks >= self.cfg.watch_max_rollbacks:
            action = "stopped"
            message += f" (after {self.rollbacks} rollbacks)"
        if action == "rolled_back":
            self.rollbacks += 1
        event = HealthEvent(step, problem, message, action)
        self.events.append(event)
        return action

    def saved(self) -> bool:
        """Whether the checkpoint just saved is a good one: nothing was detected since the last save, and
        the discriminator is not on a streak of near-0 losses (a problem may be building up)."""
        good = self.healthy_since_save and self.d_low_streak == 0
        self.healthy_since_save = True
        return good


def write_event(run_dir: Path, event: HealthEvent) -> None:
    with (Path(run_dir) / HEALTH_FILE).open("a") as f:
        f.write(json.dumps(asdict(event)) + "\n")


def write_report(run_dir: Path, watchdog: Watchdog | None, last_step: int, finished: bool, lr_scale: float) -> dict:
    """run_report.json: how the run ended, and every health event with what was done about it."""
    events = [asdict(e) for e in watchdog.events] if watchdog else []
    if not events:
        summary = "healthy: no problem was detected" if watchdog and watchdog.enabled else "the watchdog was off"
    else:
        summary = "; ".join(f"{e['message']} -> {e['action'].replace('_', ' ')}" for e in events)
    report = {"finished": finished, "last_step": last_step, "lr_scale": lr_scale,
              "rollbacks": watchdog.rollbacks if watchdog else 0, "summary": summary, "events": events}
    (Path(run_dir) / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
