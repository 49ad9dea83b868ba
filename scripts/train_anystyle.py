"""Reproduce an any-painting student (`python -m scripts.train_anystyle`): train, export, measure.

Three stages, each a command of the project's own tools, printed before it runs; each resumes:

1. ``python -m trainer cin-code-distill --config ROOT/config.json`` (or ``--resume``) with the
   student's recipe below (trainer/cin_code_distill.py); it paints its teacher windows once
   (``RUN/pairs.npz``, about 4 minutes) and keeps checkpoints in the run folder;
2. ``python -m trainer export-conditioned RUN --registry ROOT/registry --style any-painting``: a
   style-conditioned version in a registry of its own (copy it into model_registry/ only when its
   figures meet the targets, docs/styles.md);
3. ``python -m scripts.anystyle_figures``: the figures on hold-out photos in hold-out looks.

Two students (``--student``): ``port`` (the default, the shipped one), the arbitrary-style teacher's
own transform ported to float (trainer/arbitrary_port.py) and fine-tuned against the int8 teacher's
paintings with a conditional PatchGAN; ``multistyle26``, the second student, multistyle26's slimmed
network driven by the code.

    python -m scripts.train_anystyle                      # the port: everything
    python -m scripts.train_anystyle --budget-minutes 60  # time-box the training stage
    python -m scripts.train_anystyle --student multistyle26

The first student (kind ``conditioned``: the compact generator with FiLM, trainer/code_generator.py)
is trained by hand with ``teacher-pairs`` and ``train --kind conditioned`` (docs/training.md); its
figures are in docs/styles.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from tessera.child_process import spawn
from tessera.registry import newest_version_dir

STYLE = "any-painting"
# The held-out looks the figures use: three multistyle26 styles never trained on, a Wesnoth painting,
# and two that owe nothing to multistyle26 (whose convolutions the second student starts from): a
# generated marbling and an openclipart drawing. 6 looks x 8 hold-out photos x 1 window per photo size.
EVAL_LOOKS = ("ms26-02-coffee", "ms26-11-coffee", "ms26-22-coffee", "wesnoth-wesnoth-1.16-data--swamp-01",
              "marbling-101", "clipart-openclipart-png--buildings-firestation_mimooh_01")
# Both paint the same windows: 16 looks per photo and size over 20 photos at 3 sizes (960 looks,
# 2880 windows), L1 + VGG16 feature distance + fine-detail term, one torch thread.
_WINDOWS = {"data_a": "data/photos/train", "sizes": [512, 1024, 2048], "looks": 16, "crop_sides": [128, 256],
            "crops": [2, 1], "lambda_l1": 1.0, "lambda_vgg": 1.0, "lambda_hf": 1.0, "checkpoint_every": 100,
            "num_threads": 1}
# Folder of each student's run, registry and figures, and its recipe.
ROOTS = {"port": Path("runs/anyport"), "multistyle26": Path("runs/anycin")}
RUNS = {"port": ROOTS["port"] / "tune", "multistyle26": ROOTS["multistyle26"] / "student"}
RECIPES = {
    # Starts at the teacher: a small rate (1e-4) for 1200 steps, and the conditional PatchGAN at a small
    # weight (0.05) beside the regression terms. About 1.7 s a step on one shared core here.
    "port": {**_WINDOWS, "run_dir": str(RUNS["port"]), "init": "arbitrary", "width": 32, "stem": 8, "n_blocks": 5,
             "steps": 1200, "lr": 0.0001, "lambda_gan": 0.05},
    # cin_distill's recipe (scripts/train_defaults.py; rate 5e-4, falling linearly to zero over the second
    # half) with five residual blocks: one network for every look needs more than the three blocks a
    # single style does. About 1.5 s a step on one shared core here.
    "multistyle26": {**_WINDOWS, "run_dir": str(RUNS["multistyle26"]), "width": 32, "stem": 16, "n_blocks": 5,
                     "steps": 2400, "lr": 0.0005},
}


def trainer(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", *args]


def run(cmd: list[str], budget_s: float = 0.0) -> None:
    """Run ``cmd``; with a budget, interrupt it (SIGINT: the trainer saves and stops) when it is spent."""
    print("$ " + " ".join(cmd), flush=True)
    process = spawn(cmd, on_parent_death=signal.SIGINT)  # SIGINT stops the trainer at its latest checkpoint
    try:
        code = process.wait(timeout=budget_s or None)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        code = process.wait()
        print(f"the {budget_s / 60:.0f} min budget is spent; training stopped", flush=True)
        return
    if code:
        raise subprocess.CalledProcessError(code, cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", choices=sorted(RECIPES), default="port")
    parser.add_argument("--budget-minutes", type=float, default=0.0, help="stop training after N minutes")
    args = parser.parse_args(argv)
    root, run_dir = ROOTS[args.student], RUNS[args.student]
    registry = root / "registry"
    if (run_dir / "checkpoints" / "latest.pt").exists():
        run(trainer("cin-code-distill", "--resume", str(run_dir)), args.budget_minutes * 60)
    else:
        root.mkdir(parents=True, exist_ok=True)
        config = root / "config.json"
        config.write_text(json.dumps(RECIPES[args.student], indent=1) + "\n")
        run(trainer("cin-code-distill", "--config", str(config)), args.budget_minutes * 60)
    registry.mkdir(parents=True, exist_ok=True)  # the trainer refuses a registry folder that does not exist
    run(trainer("export-conditioned", str(run_dir), "--registry", str(registry), "--style", STYLE))
    newest = newest_version_dir(registry / STYLE).name
    looks = [flag for look in EVAL_LOOKS for flag in ("--look", look)]
    run([sys.executable, "-m", "scripts.anystyle_figures", "--student", str(registry / STYLE / newest),
         "--out", str(root / "eval"), "--crops", "1", *looks, "--metrics-into", str(run_dir)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
